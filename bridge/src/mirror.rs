//! `v2m-bridge mirror`: the frames published under a key (or every key a wildcard
//! matches) written into local rings, one per publisher.
//!
//! A mirror learns a source's geometry from its publisher's configuration
//! queryable: when the publisher's liveliness token appears (so the ring exists
//! before its first frame and readers can attach at once), or when frames come
//! from a source it has no ring for; those frames wait for the answer and are
//! written once the ring exists. A new generation of the source (its engine
//! restarted) closes the local ring and makes a new one, as an engine restart
//! does locally. Malformed messages are counted and reported, never trusted.
//!
//! With `--recover-ms`, a gap is asked for again from the publisher's store of
//! recent frames (`<key>/resend`), and the frames after it wait, within the bound,
//! for the answer.
//!
//! Frames, publishers coming and going, and the answers to every query come through
//! one queue, so the loop never waits on the network: it wakes for whichever comes
//! first, or for the next held frame's deadline. At the end the queue goes before
//! the subscriptions, so no Zenoh thread is left waiting to hand it a message.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use zenoh::query::Reply;
use zenoh::sample::{Sample, SampleKind};
use zenoh::Wait;

use crate::cli::{is_wildcard, MirrorArgs};
use crate::error::{network, BridgeError};
use crate::mirror_ring::MirrorRing;
use crate::wire::{Batch, SourceConfig};
use crate::{keys, session};

/// A message for the mirror's loop.
enum Incoming {
    /// A batch as its publisher sent it.
    Published(Sample),
    /// A batch sent again because this mirror asked for it.
    Resent(Sample),
    /// A publisher's liveliness token appeared or went.
    Publisher(Sample),
    /// A publisher's answer to a configuration query for a key.
    Config(String, Sample),
    /// Configuration query number `.1` for a key is over (answered or not).
    ConfigDone(String, u64),
}

/// A configuration query under way.
struct Asked {
    number: u64,
    since: Instant,
    waiting: Vec<Vec<u8>>,
}

/// Tells the loop a configuration query is over when Zenoh drops its callback.
struct QueryOver {
    key: String,
    number: u64,
    queue: SyncSender<Incoming>,
}

impl Drop for QueryOver {
    fn drop(&mut self) {
        // Never blocks a Zenoh thread: with the queue full, the batches that waited
        // stay until the next answer for the key.
        let _ = self.queue.try_send(Incoming::ConfigDone(std::mem::take(&mut self.key), self.number));
    }
}

/// Batches from a source with no ring yet, waiting for its configuration.
const MOST_WAITING: usize = 256;

/// Messages waiting for the mirror; when full, Zenoh holds further ones back.
const QUEUE_MESSAGES: usize = 4096;
/// How long a wait for the next message lasts before the loop looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// How long a publisher has to answer a configuration query.
const CONFIG_TIMEOUT: Duration = Duration::from_secs(2);
/// The shortest time between two reports of the same kind of bad message.
const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// The mirror's rings, by the key their frames travel under.
struct Mirrors<'a> {
    args: &'a MirrorArgs,
    session: &'a zenoh::Session,
    /// Where the answers to resend queries go.
    incoming: SyncSender<Incoming>,
    rings: HashMap<String, MirrorRing>,
    /// Keys whose configuration was asked for, with the batches waiting for it.
    asked: HashMap<String, Asked>,
    queries: u64,
    /// The generation of each key whose source ring closed: its late frames are not
    /// a new ring.
    ended: HashMap<String, u64>,
    rejected: u64,
    last_report: Option<Instant>,
}

/// Runs until `stop` is raised.
pub fn run(args: &MirrorArgs, stop: &AtomicBool) -> Result<(), BridgeError> {
    if is_wildcard(&args.key) && args.ring.is_some() {
        return Err(BridgeError::Usage(format!(
            "--ring names one ring, and {} matches many: each is named from its key; drop --ring",
            args.key
        )));
    }
    if !is_wildcard(&args.key) && args.ring.is_none() {
        keys::ring_for(&args.key, &args.key).map_err(BridgeError::Usage)?;
    }
    let zenoh = session::open(&args.session)?;
    let (incoming, queue) = sync_channel(QUEUE_MESSAGES);
    // Each callback blocks while the queue is full: Zenoh holds further messages back.
    let published = incoming.clone();
    let frames = zenoh
        .declare_subscriber(args.key.clone())
        .callback(move |sample| {
            let _ = published.send(Incoming::Published(sample));
        })
        .wait()
        .map_err(network("subscribing"))?;
    let alive = incoming.clone();
    let publishers = zenoh
        .liveliness()
        .declare_subscriber(args.key.clone())
        .history(true)
        .callback(move |token| {
            let _ = alive.send(Incoming::Publisher(token));
        })
        .wait()
        .map_err(network("watching publishers"))?;
    log::info!("mirroring {}", args.key);
    let mut mirrors = Mirrors {
        args,
        session: &zenoh,
        incoming,
        rings: HashMap::new(),
        asked: HashMap::new(),
        queries: 0,
        ended: HashMap::new(),
        rejected: 0,
        last_report: None,
    };
    let mut outcome = Ok(());
    while !stop.load(Ordering::Relaxed) {
        let wait =
            mirrors.deadline().map_or(POLL, |due| due.saturating_duration_since(Instant::now()).min(POLL));
        match queue.recv_timeout(wait) {
            Ok(Incoming::Published(sample)) => mirrors.receive(&sample, false),
            Ok(Incoming::Resent(sample)) => mirrors.receive(&sample, true),
            Ok(Incoming::Publisher(token)) => mirrors.publisher(&token),
            Ok(Incoming::Config(key, answer)) => mirrors.configured(&key, &answer),
            Ok(Incoming::ConfigDone(key, number)) => mirrors.unanswered(&key, number),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                outcome = Err(BridgeError::Network("the subscription ended".into()));
                break;
            }
        }
        mirrors.release(Instant::now());
    }
    for (key, ring) in &mirrors.rings {
        log::info!("{key}: ring {} {}", ring.name().as_str(), describe(ring));
    }
    if mirrors.rejected > 0 {
        log::warn!("{} malformed messages were not written", mirrors.rejected);
    }
    drop(mirrors); // the rings closed and unlinked first
    drop(queue); // a callback waiting to hand over a message returns
    drop((frames, publishers));
    session::close(zenoh);
    outcome
}

/// What a ring received, for the log.
fn describe(ring: &MirrorRing) -> String {
    let c = ring.counts();
    format!(
        "had {} frames written ({} of them sent again), {} lost on the way, {} late",
        c.frames, c.recovered, c.lost, c.late
    )
}

impl Mirrors<'_> {
    /// A publisher's token appeared (ask for its configuration, to make its ring now,
    /// so readers can attach before the first frame) or went.
    fn publisher(&mut self, token: &Sample) {
        let key = token.key_expr().as_str();
        match token.kind() {
            SampleKind::Put => {
                log::info!("the publisher of {key} is alive");
                self.ask_config(key);
            }
            SampleKind::Delete => log::info!("the publisher of {key} left"),
        }
    }

    /// Asks `key`'s publisher for its configuration, unless that is under way; the
    /// answer, and the query's end, join the queue.
    fn ask_config(&mut self, key: &str) {
        // A query whose end was not heard of (the queue was full) is asked again.
        if self.asked.get(key).is_some_and(|asked| asked.since.elapsed() < 2 * CONFIG_TIMEOUT) {
            return;
        }
        self.queries += 1;
        let number = self.queries;
        let answers = self.incoming.clone();
        let for_answer = key.to_owned();
        // Zenoh drops the callback when the query is over: the guard it holds says so.
        let over = QueryOver { key: key.to_owned(), number, queue: self.incoming.clone() };
        let on_reply = move |reply: Reply| {
            let _ = &over;
            match reply.into_result() {
                Ok(sample) => {
                    let _ = answers.send(Incoming::Config(for_answer.clone(), sample));
                }
                Err(e) => log::debug!("{for_answer}: a configuration query failed: {e:?}"),
            }
        };
        match self.session.get(keys::config_key(key)).timeout(CONFIG_TIMEOUT).callback(on_reply).wait() {
            Ok(()) => {
                let waiting = self.asked.remove(key).map(|asked| asked.waiting).unwrap_or_default();
                self.asked.insert(key.to_owned(), Asked { number, since: Instant::now(), waiting });
            }
            Err(e) => log::warn!("{key}: asking for its configuration: {e}"),
        }
    }

    /// `key`'s publisher said what it publishes: make its ring (unless it exists),
    /// then write the batches that waited for it.
    fn configured(&mut self, key: &str, answer: &Sample) {
        let (source, next_index) = match SourceConfig::from_json(&answer.payload().to_bytes()) {
            Ok(config) => config,
            Err(why) => return self.reject(key, &format!("its configuration: {why}")),
        };
        let waiting = self.asked.remove(key).map(|asked| asked.waiting).unwrap_or_default();
        let generation = source.generation;
        let current = self.rings.get(key).map(|ring| ring.source().generation);
        if current != Some(generation) && self.ended.get(key) != Some(&generation) {
            // The ring begins with the first frame that waited for it, if any did.
            let first = waiting
                .iter()
                .filter_map(|bytes| Batch::decode(bytes).ok())
                .filter(|batch| batch.generation == generation)
                .find_map(|batch| batch.frames().next().map(|frame| frame.record.index))
                .unwrap_or(next_index);
            if !self.replace(key, source, first) {
                return;
            }
        }
        for bytes in waiting {
            self.write(key, &bytes, false);
        }
    }

    /// `key`'s configuration query ended with no usable answer: the batches that
    /// waited have no ring to go to (their publisher has no ring either).
    fn unanswered(&mut self, key: &str, number: u64) {
        if self.asked.get(key).is_some_and(|asked| asked.number == number) {
            let waiting = self.asked.remove(key).map(|asked| asked.waiting).unwrap_or_default();
            if !waiting.is_empty() {
                log::debug!("{key}: {} batches dropped: no configuration came", waiting.len());
            }
        }
    }

    /// When the first held frame of any ring is due.
    fn deadline(&self) -> Option<Instant> {
        self.rings.values().filter_map(MirrorRing::deadline).min()
    }

    /// Writes every ring's held frames that are due.
    fn release(&mut self, now: Instant) {
        for ring in self.rings.values_mut() {
            ring.release(now);
        }
    }

    fn receive(&mut self, sample: &Sample, resent: bool) {
        let bytes = sample.payload().to_bytes();
        // A resent batch answers `<key>/resend`; it belongs to `<key>`.
        let key = sample.key_expr().as_str();
        let key = if resent { key.strip_suffix(keys::RESEND_SUFFIX).unwrap_or(key) } else { key };
        self.write(key, &bytes, resent);
    }

    /// Writes a batch into `key`'s ring, or keeps it until the ring exists.
    fn write(&mut self, key: &str, bytes: &[u8], resent: bool) {
        let batch = match Batch::decode(bytes) {
            Ok(batch) => batch,
            Err(why) => return self.reject(key, &why),
        };
        if self.ended.get(key) == Some(&batch.generation) {
            return; // after its ring closed
        }
        let current = self.rings.get(key).map(|ring| ring.source().generation);
        if current != Some(batch.generation) {
            if !resent {
                // A new source, or a new generation of one: its batches wait for its
                // configuration (a few, not forever).
                self.ask_config(key);
                if let Some(asked) = self.asked.get_mut(key) {
                    if asked.waiting.len() < MOST_WAITING {
                        asked.waiting.push(bytes.to_vec());
                    }
                }
            }
            return;
        }
        let bound = self.recover_bound();
        let ring = self.rings.get_mut(key).expect("its generation was just read");
        let (session, incoming) = (self.session, &self.incoming);
        let mut ask_again = |gap: Range<u64>| ask_again(session, incoming, key, batch.generation, gap, bound);
        if let Err(why) = ring.write(&batch, resent, Instant::now(), &mut ask_again) {
            self.reject(key, &why);
        }
        if batch.ended {
            let ring = self.rings.remove(key).expect("written above");
            log::info!("{key}: its source ring closed; ring {} {}", ring.name().as_str(), describe(&ring));
            self.ended.insert(key.to_owned(), batch.generation);
            ring.close();
        }
    }

    /// Makes `key`'s ring for `source` (closing the previous generation's first).
    fn replace(&mut self, key: &str, source: SourceConfig, first_index: u64) -> bool {
        let name = match &self.args.ring {
            Some(name) => name.clone(),
            None => match keys::ring_for(&self.args.key, key) {
                Ok(name) => name,
                Err(why) => {
                    self.reject(key, &why);
                    return false;
                }
            },
        };
        if let Some(old) = self.rings.remove(key) {
            log::info!("{key}: a new engine replaced its source; ring {} {}", name.as_str(), describe(&old));
            old.abandon();
        }
        let g = source.config.geometry;
        match MirrorRing::create(&name, source, first_index, self.args.group_readable, self.recover_bound()) {
            Ok(ring) => {
                log::info!(
                    "{key} → ring {} ({} Hz, {} × {} samples, {} slots, from {}/{}) at frame {first_index}",
                    name.as_str(),
                    g.sample_rate,
                    g.channels,
                    g.frame_samples,
                    g.slot_count,
                    ring.source().host,
                    ring.source().ring
                );
                if ring.next_index() < first_index {
                    log::info!("{key}: continuing the stale ring's frames from {}", ring.next_index());
                }
                self.rings.insert(key.to_owned(), ring);
                true
            }
            Err(e) => {
                log::error!("{key}: cannot make ring {}: {e}", name.as_str());
                false
            }
        }
    }

    fn recover_bound(&self) -> Duration {
        Duration::from_millis(u64::from(self.args.recover_ms))
    }

    fn reject(&mut self, key: &str, why: &str) {
        self.rejected += 1;
        let now = Instant::now();
        if self.last_report.is_none_or(|last| now - last >= REPORT_INTERVAL) {
            self.last_report = Some(now);
            log::warn!("{key}: a message was not written ({why}); {} so far", self.rejected);
        }
    }
}

/// Asks the publisher of `key` for the frames of `gap` again; the answers join the
/// mirror's queue, and whatever has not come within `bound` is not waited for.
fn ask_again(
    session: &zenoh::Session,
    incoming: &SyncSender<Incoming>,
    key: &str,
    generation: u64,
    gap: Range<u64>,
    bound: Duration,
) {
    let selector =
        format!("{}?generation={generation};from={};to={}", keys::resend_key(key), gap.start, gap.end);
    let answers = incoming.clone();
    let asked = session
        .get(selector)
        .timeout(bound)
        .callback(move |reply| {
            if let Ok(sample) = reply.into_result() {
                let _ = answers.send(Incoming::Resent(sample));
            }
        })
        .wait();
    if let Err(e) = asked {
        log::debug!("{key}: asking for frames {}..{} again: {e}", gap.start, gap.end);
    }
}
