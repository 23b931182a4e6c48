//! `v2m-bridge mirror`: the frames published under a key (or every key a wildcard
//! matches) written into local rings, one per publisher.
//!
//! A mirror learns a source's geometry from its publisher's configuration
//! queryable: when the publisher's liveliness token appears (so the ring exists
//! before its first frame and readers can attach at once), or when frames come
//! from a source it has no ring for. A new generation of the source (its engine
//! restarted) closes the local ring and makes a new one, as an engine restart
//! does locally. Malformed messages are counted and reported, never trusted.
//!
//! With `--recover-ms`, a gap is asked for again from the publisher's store of
//! recent frames (`<key>/resend`), and the frames after it wait, within the bound,
//! for the answer. Frames and answers come through one queue, so the loop wakes for
//! whichever comes first, or for the next held frame's deadline.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use zenoh::handlers::FifoChannel;
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
}

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
    let published = incoming.clone();
    let frames = zenoh
        .declare_subscriber(args.key.clone())
        .callback(move |sample| {
            // Blocks while the queue is full: Zenoh holds further messages back.
            let _ = published.send(Incoming::Published(sample));
        })
        .wait()
        .map_err(network("subscribing"))?;
    let publishers = zenoh
        .liveliness()
        .declare_subscriber(args.key.clone())
        .history(true)
        .with(FifoChannel::new(256))
        .wait()
        .map_err(network("watching publishers"))?;
    log::info!("mirroring {}", args.key);
    let mut mirrors = Mirrors {
        args,
        session: &zenoh,
        incoming,
        rings: HashMap::new(),
        ended: HashMap::new(),
        rejected: 0,
        last_report: None,
    };
    while !stop.load(Ordering::Relaxed) {
        while let Ok(Some(token)) = publishers.try_recv() {
            let key = token.key_expr().as_str().to_owned();
            match token.kind() {
                SampleKind::Put => {
                    log::info!("the publisher of {key} is alive");
                    mirrors.publisher_appeared(&key);
                }
                SampleKind::Delete => log::info!("the publisher of {key} left"),
            }
        }
        let wait =
            mirrors.deadline().map_or(POLL, |due| due.saturating_duration_since(Instant::now()).min(POLL));
        match queue.recv_timeout(wait) {
            Ok(Incoming::Published(sample)) => mirrors.receive(&sample, false),
            Ok(Incoming::Resent(sample)) => mirrors.receive(&sample, true),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                drop(mirrors);
                return Err(BridgeError::Network("the subscription ended".into()));
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
    drop((frames, publishers));
    session::close(zenoh);
    Ok(())
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
    /// A publisher's token appeared: make its ring now, so readers can attach before
    /// the first frame.
    fn publisher_appeared(&mut self, key: &str) {
        let Some((source, next_index)) = self.query_config(key) else { return };
        if self.rings.get(key).is_some_and(|ring| ring.source().generation == source.generation) {
            return;
        }
        self.replace(key, source, next_index);
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
        let batch = match Batch::decode(&bytes) {
            Ok(batch) => batch,
            Err(why) => return self.reject(key, &why),
        };
        if self.ended.get(key) == Some(&batch.generation) {
            return; // after its ring closed
        }
        let current = self.rings.get(key).map(|ring| ring.source().generation);
        if resent && current != Some(batch.generation) {
            return; // an answer for a ring that is gone
        }
        if current != Some(batch.generation) {
            let Some((source, _)) = self.query_config(key) else { return };
            if source.generation != batch.generation {
                return; // frames of a generation that is already gone
            }
            let first = batch.frames().next().map_or(0, |frame| frame.record.index);
            if !self.replace(key, source, first) {
                return;
            }
        }
        let bound = self.recover_bound();
        let ring = self.rings.get_mut(key).expect("made above");
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

    fn query_config(&mut self, key: &str) -> Option<(SourceConfig, u64)> {
        let replies = match self.session.get(keys::config_key(key)).timeout(CONFIG_TIMEOUT).wait() {
            Ok(replies) => replies,
            Err(e) => {
                log::warn!("{key}: asking for its configuration: {e}");
                return None;
            }
        };
        while let Ok(reply) = replies.recv() {
            match reply.result() {
                Ok(sample) => match SourceConfig::from_json(&sample.payload().to_bytes()) {
                    Ok(answer) => return Some(answer),
                    Err(why) => self.reject(key, &format!("its configuration: {why}")),
                },
                Err(e) => log::debug!("{key}: a configuration query failed: {e:?}"),
            }
        }
        log::debug!("{key}: no configuration yet (its publisher is waiting for its ring)");
        None
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
