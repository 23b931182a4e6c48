//! `v2m-bridge publish`: one more reader of a local ring, sending every frame it
//! reads under a key, with the ring's configuration served for late joiners.
//!
//! The ring is read like any reader reads it (`v2m_ring::RingReader`: untorn
//! frames, laps counted); the frames already waiting go out together (up to
//! `--batch-frames`, never held back to fill a batch). Sending never blocks the
//! reading for long: congestion control is `Drop`, so a slow or absent subscriber
//! costs it frames, which its mirror counts, never the publisher's place in the
//! ring. The engine is followed across restarts: a new generation under the name
//! is published from its oldest frame.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use v2m_ring::clock;
use v2m_ring::reader::{Next, RingReader, Start};
use v2m_ring::shm::RingName;
use zenoh::qos::{CongestionControl, Priority, Reliability};
use zenoh::Wait;

use crate::cli::{Delivery, PublishArgs, StartAt};
use crate::error::{network, BridgeError};
use crate::wire::{BatchWriter, SourceConfig, MAX_BATCH_BYTES};
use crate::{keys, session};

/// How long one read waits before the loop looks at the stop flag and the ring's name.
const POLL: Duration = Duration::from_millis(100);

/// What the publisher has sent, for its last words.
#[derive(Default)]
struct Counts {
    frames: u64,
    messages: u64,
    lapped: u64,
    refused: u64,
}

/// What the configuration queryable answers: the ring being published, and the
/// index of the next frame, which is where a mirror that joins now begins.
#[derive(Default)]
struct Announcement {
    source: Mutex<Option<SourceConfig>>,
    next_index: AtomicU64,
}

/// Runs until `stop` is raised (or `--wait` passes with no ring).
pub fn run(args: &PublishArgs, stop: &AtomicBool) -> Result<(), BridgeError> {
    let host = keys::hostname();
    let key = args.key.clone().unwrap_or_else(|| keys::default_key(&host, args.ring.as_str()));
    let zenoh = session::open(&args.session)?;
    let reliability = match args.delivery {
        Delivery::Reliable => Reliability::Reliable,
        Delivery::BestEffort => Reliability::BestEffort,
    };
    let publisher = declare_frames(&zenoh, &key, CongestionControl::Drop, reliability)?;
    // The message that says a ring closed goes on a publisher that waits for room:
    // it must not be the one message dropped (the same key, in order).
    let last_words = declare_frames(&zenoh, &key, CongestionControl::Block, reliability)?;
    let announcement = Arc::new(Announcement::default());
    let answers = Arc::clone(&announcement);
    let config_key = keys::config_key(&key);
    let _queryable = zenoh
        .declare_queryable(config_key.clone())
        .callback(move |query| {
            let source = answers.source.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(source) = source {
                let json = source.to_json(answers.next_index.load(Ordering::Acquire));
                if let Err(e) = query.reply(query.key_expr().clone(), json).wait() {
                    log::debug!("answering a configuration query: {e}");
                }
            }
        })
        .wait()
        .map_err(network("declaring the configuration queryable"))?;
    let _alive =
        zenoh.liveliness().declare_token(key.clone()).wait().map_err(network("declaring liveliness"))?;
    log::info!("publishing ring {} under {key} (configuration at {config_key})", args.ring.as_str());

    let mut counts = Counts::default();
    let mut start = match args.start {
        StartAt::Latest => Start::Latest,
        StartAt::Oldest => Start::Oldest,
    };
    let deadline = args.wait.map(|wait| Instant::now() + wait);
    let mut finished = None;
    let mut outcome = Ok(());
    while !stop.load(Ordering::Relaxed) {
        let mut reader = match wait_for_ring(&args.ring, start, finished, deadline, stop) {
            Ok(Some(reader)) => reader,
            Ok(None) if stop.load(Ordering::Relaxed) => break,
            Ok(None) => {
                let missing =
                    format!("no ring {} appeared within --wait; start the engine first", args.ring.as_str());
                outcome = Err(BridgeError::Usage(missing));
                break;
            }
            Err(error) => {
                outcome = Err(error);
                break;
            }
        };
        let source = SourceConfig::of(reader.info(), &host, args.ring.as_str(), &key);
        log::info!(
            "ring {} generation {} ({} Hz, {} × {} samples, {} slots) from frame {}",
            args.ring.as_str(),
            source.generation,
            source.config.geometry.sample_rate,
            source.config.geometry.channels,
            source.config.geometry.frame_samples,
            source.config.geometry.slot_count,
            reader.next_index()
        );
        announcement.next_index.store(reader.next_index(), Ordering::Release);
        *announcement.source.lock().unwrap_or_else(|e| e.into_inner()) = Some(source);
        let ended = stream(&mut reader, &publisher, &last_words, args, &announcement, &mut counts, stop);
        counts.lapped += reader.dropped();
        log::info!("ring {} {ended}", args.ring.as_str());
        finished = Some(reader.info().generation);
        // Until the next ring, a mirror that asks learns there is none to make.
        *announcement.source.lock().unwrap_or_else(|e| e.into_inner()) = None;
        // A restarted engine's frames are all new: the next ring is sent from its oldest.
        start = Start::Oldest;
    }
    log::info!(
        "published {} frames in {} messages; {} skipped because the ring lapped the bridge, {} refused by the session",
        counts.frames,
        counts.messages,
        counts.lapped,
        counts.refused
    );
    drop((_queryable, _alive, publisher, last_words));
    session::close(zenoh);
    outcome
}

/// The ring `name` once it runs (or is closed), but not generation `finished`, the
/// one already published to its end.
fn wait_for_ring(
    name: &RingName,
    start: Start,
    finished: Option<u64>,
    deadline: Option<Instant>,
    stop: &AtomicBool,
) -> Result<Option<RingReader>, BridgeError> {
    let mut said = false;
    loop {
        match RingReader::wait_open(name, start, POLL * 5, stop)? {
            Some(reader) if Some(reader.info().generation) != finished => return Ok(Some(reader)),
            Some(_) => std::thread::sleep(POLL),
            None => {}
        }
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        if !said {
            log::info!("waiting for ring {} to run", name.as_str());
            said = true;
        }
    }
}

/// A publisher of frame batches under `key`.
fn declare_frames<'a>(
    zenoh: &'a zenoh::Session,
    key: &str,
    congestion: CongestionControl,
    reliability: Reliability,
) -> Result<zenoh::pubsub::Publisher<'a>, BridgeError> {
    zenoh
        .declare_publisher(key.to_owned())
        .congestion_control(congestion)
        .priority(Priority::RealTime)
        .express(true)
        .reliability(reliability)
        .wait()
        .map_err(network("declaring the publisher"))
}

/// How publishing one ring ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// The bridge is stopping.
    Stopping,
    /// The engine closed the ring (the mirrors were told).
    Closed,
    /// The engine died.
    WriterGone,
    /// Another ring took the name.
    Replaced,
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ending::Stopping => "left: stopping",
            Ending::Closed => "closed",
            Ending::WriterGone => "lost its engine",
            Ending::Replaced => "was replaced",
        })
    }
}

/// Sends the ring's frames until it ends; says how it ended. When the engine closed
/// the ring, the last message says so (sent with `Block`: it must not be the one
/// message dropped), and the mirrors close theirs.
fn stream(
    reader: &mut RingReader,
    publisher: &zenoh::pubsub::Publisher<'_>,
    last_words: &zenoh::pubsub::Publisher<'_>,
    args: &PublishArgs,
    announcement: &Announcement,
    counts: &mut Counts,
    stop: &AtomicBool,
) -> Ending {
    let generation = reader.info().generation;
    let samples = reader.info().config.geometry.samples_per_frame();
    let mut frame = vec![0f32; samples];
    let mut batch = BatchWriter::new(samples);
    let most = args.batch_frames as usize;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ending::Stopping;
        }
        batch.begin(generation, clock::realtime_offset_ns());
        let mut ended = None;
        while batch.len() < most && batch.has_room_within(MAX_BATCH_BYTES) {
            // The first frame is waited for; the rest go only if already there.
            let wait = if batch.is_empty() { POLL } else { Duration::ZERO };
            match reader.read(&mut frame, wait) {
                Next::Frame(record) => batch.push(&record, &frame),
                Next::Timeout => break,
                Next::Closed => {
                    ended = Some(Ending::Closed);
                    batch.end();
                    break;
                }
                Next::WriterGone => {
                    ended = Some(Ending::WriterGone);
                    break;
                }
            }
        }
        match ended {
            Some(Ending::Closed) => {} // the end message goes even without frames
            Some(how) if batch.is_empty() => return how,
            None if batch.is_empty() => {
                if RingReader::generation_at_name(&args.ring) != Some(generation) {
                    return Ending::Replaced;
                }
                continue;
            }
            _ => {}
        }
        announcement.next_index.store(reader.next_index(), Ordering::Release);
        let sent = match ended {
            None => publisher.put(batch.bytes().to_vec()).wait(),
            Some(_) => last_words.put(batch.bytes().to_vec()).wait(),
        };
        match sent {
            Ok(()) => {
                counts.frames += batch.len() as u64;
                counts.messages += 1;
            }
            Err(e) => {
                counts.refused += batch.len() as u64;
                log::debug!("sending {} frames: {e}", batch.len());
            }
        }
        if let Some(how) = ended {
            return how;
        }
    }
}
