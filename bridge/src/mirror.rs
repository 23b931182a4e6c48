//! `v2m-bridge mirror`: the frames published under a key (or every key a wildcard
//! matches) written into local rings, one per publisher.
//!
//! A mirror learns a source's geometry from its publisher's configuration
//! queryable: when the publisher's liveliness token appears (so the ring exists
//! before its first frame and readers can attach at once), or when frames come
//! from a source it has no ring for. A new generation of the source (its engine
//! restarted) closes the local ring and makes a new one, as an engine restart
//! does locally. Malformed messages are counted and reported, never trusted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use zenoh::handlers::FifoChannel;
use zenoh::sample::SampleKind;
use zenoh::Wait;

use crate::cli::{is_wildcard, MirrorArgs};
use crate::error::{network, BridgeError};
use crate::mirror_ring::MirrorRing;
use crate::wire::{Batch, SourceConfig};
use crate::{keys, session};

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
    let frames = zenoh
        .declare_subscriber(args.key.clone())
        .with(FifoChannel::new(QUEUE_MESSAGES))
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
        match frames.recv_timeout(POLL) {
            Ok(Some(sample)) => {
                let key = sample.key_expr().as_str().to_owned();
                let bytes = sample.payload().to_bytes();
                mirrors.receive(&key, &bytes);
            }
            Ok(None) => {}
            Err(e) => {
                drop(mirrors);
                return Err(BridgeError::Network(format!("the subscription ended: {e}")));
            }
        }
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
    format!("had {} frames written, {} lost on the way, {} late", c.frames, c.lost, c.late)
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

    fn receive(&mut self, key: &str, bytes: &[u8]) {
        let batch = match Batch::decode(bytes) {
            Ok(batch) => batch,
            Err(why) => return self.reject(key, &why),
        };
        if self.ended.get(key) == Some(&batch.generation) {
            return; // after its ring closed
        }
        let current = self.rings.get(key).map(|ring| ring.source().generation);
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
        let ring = self.rings.get_mut(key).expect("made above");
        if let Err(why) = ring.write(&batch) {
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
        match MirrorRing::create(&name, source, first_index, self.args.group_readable) {
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
