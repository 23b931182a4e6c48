//! `v2m-bridge publish`: one more reader of each local ring it is given, sending
//! every frame it reads under the ring's key, with the ring's configuration served
//! for late joiners and its last frames kept for mirrors that missed some.
//!
//! Each ring has a thread of its own on one shared session. The ring is read like
//! any reader reads it (`v2m_ring::RingReader`: untorn frames, laps counted); the
//! frames already waiting go out together (up to `--batch-frames`, never held back
//! to fill a batch). Sending never blocks the reading for long: congestion control
//! is `Drop`, so a slow or absent subscriber costs it frames, which its mirror
//! counts (or asks for again), never the publisher's place in the ring. The engine
//! is followed across restarts: a new generation under the name is published from
//! its oldest frame.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use v2m_ring::clock;
use v2m_ring::reader::{Next, RingReader, Start};
use v2m_ring::shm::RingName;
use zenoh::qos::{CongestionControl, Priority, Reliability};
use zenoh::query::Query;
use zenoh::Wait;

use crate::cli::{Delivery, PublishArgs, StartAt};
use crate::error::{network, BridgeError};
use crate::recent::Recent;
use crate::wire::{BatchWriter, SourceConfig, MAX_BATCH_BYTES};
use crate::{keys, session};

/// How long one read waits before the loop looks at the stop flag and the ring's name.
const POLL: Duration = Duration::from_millis(100);

/// What the publisher has sent, for its last words.
#[derive(Default)]
struct Counts {
    frames: u64,
    /// Messages that carried frames (the end message may carry none).
    messages: u64,
    lapped: u64,
    refused: u64,
    resent: u64,
}

/// What the queryables answer: the ring being published, the index of the next
/// frame (where a mirror that joins now begins), and the frames sent last.
struct Announcement {
    source: Mutex<Option<SourceConfig>>,
    next_index: AtomicU64,
    recent: Mutex<Recent>,
    resent: AtomicU64,
}

/// A lock that a panicking holder did not poison for the others: every holder
/// leaves the data whole between statements.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs until `stop` is raised (or `--wait` passes with no ring).
pub fn run(args: &PublishArgs, stop: &AtomicBool) -> Result<(), BridgeError> {
    if args.ring.len() > 1 && args.key.is_some() {
        return Err(BridgeError::Usage(
            "--key names the key of one ring, and several --ring were given: drop --key, and each \
             ring is published under v2m/<hostname>/<ring>"
                .into(),
        ));
    }
    if let Some(twice) = args.ring.iter().enumerate().find(|(n, r)| args.ring[..*n].contains(r)) {
        return Err(BridgeError::Usage(format!("--ring {} is given twice", twice.1.as_str())));
    }
    let host = keys::hostname();
    let zenoh = session::open(&args.session)?;
    let outcomes: Vec<Result<(), BridgeError>> = std::thread::scope(|scope| {
        let threads: Vec<_> = args
            .ring
            .iter()
            .map(|ring| {
                let key = args.key.clone().unwrap_or_else(|| keys::default_key(&host, ring.as_str()));
                let (zenoh, host) = (&zenoh, host.as_str());
                std::thread::Builder::new()
                    .name(format!("publish {}", ring.as_str()))
                    .spawn_scoped(scope, move || publish_ring(zenoh, ring, &key, host, args, stop))
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| match thread {
                Ok(thread) => thread.join().unwrap_or_else(|_| {
                    stop.store(true, Ordering::Relaxed);
                    Err(BridgeError::Network("a publishing thread panicked".into()))
                }),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    Err(BridgeError::Network(format!("starting a publishing thread: {e}")))
                }
            })
            .collect()
    });
    session::close(zenoh);
    outcomes.into_iter().collect()
}

/// Publishes ring `name` under `key` until `stop` is raised (or `--wait` passes).
fn publish_ring(
    zenoh: &zenoh::Session,
    name: &RingName,
    key: &str,
    host: &str,
    args: &PublishArgs,
    stop: &AtomicBool,
) -> Result<(), BridgeError> {
    let reliability = match args.delivery {
        Delivery::Reliable => Reliability::Reliable,
        Delivery::BestEffort => Reliability::BestEffort,
    };
    let publisher = declare_frames(zenoh, key, CongestionControl::Drop, reliability)?;
    // The message that says a ring closed goes on a publisher that waits for room:
    // it must not be the one message dropped (the same key, in order).
    let last_words = declare_frames(zenoh, key, CongestionControl::Block, reliability)?;
    let announcement = Arc::new(Announcement {
        source: Mutex::new(None),
        next_index: AtomicU64::new(0),
        recent: Mutex::new(Recent::default()),
        resent: AtomicU64::new(0),
    });
    let answers = Arc::clone(&announcement);
    let config_key = keys::config_key(key);
    let _config = zenoh
        .declare_queryable(config_key.clone())
        .callback(move |query| answer_config(&answers, &query))
        .wait()
        .map_err(network("declaring the configuration queryable"))?;
    let answers = Arc::clone(&announcement);
    let _resend = zenoh
        .declare_queryable(keys::resend_key(key))
        .callback(move |query| answer_resend(&answers, &query))
        .wait()
        .map_err(network("declaring the resend queryable"))?;
    let _alive =
        zenoh.liveliness().declare_token(key.to_owned()).wait().map_err(network("declaring liveliness"))?;
    log::info!("publishing ring {} under {key} (configuration at {config_key})", name.as_str());

    let mut counts = Counts::default();
    let mut start = match args.start {
        StartAt::Latest => Start::Latest,
        StartAt::Oldest => Start::Oldest,
    };
    let deadline = args.wait.map(|wait| Instant::now() + wait);
    let mut finished = None;
    let mut outcome = Ok(());
    while !stop.load(Ordering::Relaxed) {
        let mut reader = match wait_for_ring(name, start, finished, deadline, stop) {
            Ok(Some(reader)) => reader,
            Ok(None) if stop.load(Ordering::Relaxed) => break,
            Ok(None) => {
                let missing =
                    format!("no ring {} appeared within --wait; start the engine first", name.as_str());
                outcome = Err(BridgeError::Usage(missing));
                break;
            }
            Err(error) => {
                outcome = Err(error);
                break;
            }
        };
        let source = SourceConfig::of(reader.info(), host, name.as_str(), key);
        let g = source.config.geometry;
        log::info!(
            "ring {} generation {} ({} Hz, {} × {} samples, {} slots) from frame {}",
            name.as_str(),
            source.generation,
            g.sample_rate,
            g.channels,
            g.frame_samples,
            g.slot_count,
            reader.next_index()
        );
        let kept =
            (u64::from(args.keep_ms) * u64::from(g.sample_rate)).div_ceil(1000 * u64::from(g.frame_samples));
        lock(&announcement.recent).restart(source.generation, g.samples_per_frame(), kept as usize);
        announcement.next_index.store(reader.next_index(), Ordering::Release);
        *lock(&announcement.source) = Some(source);
        let ended =
            stream(&mut reader, name, &publisher, &last_words, args, &announcement, &mut counts, stop);
        counts.lapped += reader.dropped();
        log::info!("ring {} {ended}", name.as_str());
        finished = Some(reader.info().generation);
        // Until the next ring, a mirror that asks learns there is none to make.
        *lock(&announcement.source) = None;
        // A restarted engine's frames are all new: the next ring is sent from its oldest.
        start = Start::Oldest;
    }
    counts.resent = announcement.resent.load(Ordering::Relaxed);
    log::info!(
        "{}: published {} frames in {} messages; {} skipped because the ring lapped the bridge, {} refused by \
         the session, {} sent again on request",
        name.as_str(),
        counts.frames,
        counts.messages,
        counts.lapped,
        counts.refused,
        counts.resent
    );
    outcome
}

/// Answers a configuration query: the ring being published and where a mirror that
/// joins now begins; nothing while there is no ring.
fn answer_config(announcement: &Announcement, query: &Query) {
    let source = lock(&announcement.source).clone();
    if let Some(source) = source {
        let json = source.to_json(announcement.next_index.load(Ordering::Acquire));
        if let Err(e) = query.reply(query.key_expr().clone(), json).wait() {
            log::debug!("answering a configuration query: {e}");
        }
    }
}

/// Answers a resend query (`?generation=G;from=A;to=B`): the kept frames of that
/// range, as batches. A query that is not well formed gets no answer.
fn answer_resend(announcement: &Announcement, query: &Query) {
    let parameters = query.parameters();
    let number = |name: &str| parameters.get(name).and_then(|text| text.parse::<u64>().ok());
    let (Some(generation), Some(from), Some(to)) = (number("generation"), number("from"), number("to"))
    else {
        log::debug!("a resend query without generation, from and to: {}", query.selector());
        return;
    };
    let mut replies = Vec::new();
    let sent =
        lock(&announcement.recent).resend(generation, from, to, clock::realtime_offset_ns(), |bytes| {
            replies.push(bytes.to_vec());
        });
    announcement.resent.fetch_add(sent as u64, Ordering::Relaxed);
    for bytes in replies {
        if let Err(e) = query.reply(query.key_expr().clone(), bytes).wait() {
            log::debug!("answering a resend query: {e}");
        }
    }
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
#[allow(clippy::too_many_arguments)] // one ring's whole context, passed down once
fn stream(
    reader: &mut RingReader,
    name: &RingName,
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
                Next::Frame(record) => {
                    batch.push(&record, &frame);
                    lock(&announcement.recent).keep(&record, &frame);
                }
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
                if RingReader::generation_at_name(name) != Some(generation) {
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
                // The end message may carry no frame: it is not a batch of them.
                counts.messages += u64::from(!batch.is_empty());
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
