//! A loom model of the slot protocol (`LAYOUT.md` §6), running the shipped
//! `v2m_layout::seqlock` functions on loom's atomics: one writer laps a
//! two-slot ring, publishing each frame in two phases (samples, then the VAD
//! result), while a reader copies a frame or its samples; loom explores every
//! interleaving (and the weak-memory reorderings the orderings allow) and the
//! reader must never accept a torn or wrong frame, torn samples, or a frame
//! whose VAD fields are not yet written. A second reader does what the
//! pure-Python reader does on ARM64 (`pyclient/v2m/reader.py`): every load
//! Relaxed, ordered only by the full barriers `v2m.ordering` gets from
//! membarrier(2). Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release -p v2m-layout --test loom_seqlock`.
#![cfg(loom)]

use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use v2m_layout::seqlock::{announce, published, read_samples, read_slot, write_samples};
use v2m_layout::{stamp_complete, FrameRecord, SlotMeta, SlotSamples};

const SLOTS: u64 = 2;
const SAMPLES: usize = 2;

struct Ring {
    meta: Vec<SlotMeta>,
    early: Vec<SlotSamples>,
    samples: Vec<[AtomicU32; SAMPLES]>,
    write_seq: AtomicU64,
    sample_seq: AtomicU64,
}

/// Frame `index`'s content: nothing in it equals a never-written slot's zeros.
fn samples_of(index: u64) -> [f32; SAMPLES] {
    [index as f32 + 1.0, -(index as f32) - 1.0]
}

fn record_of(index: u64) -> FrameRecord {
    FrameRecord {
        index,
        capture_ns: 10 * index + 7,
        flags: index as u32 + 1,
        publish_ns: 10 * index + 9,
        vad_prob: index as f32 + 0.5,
        speech: true,
        samples_ns: 10 * index + 8,
        ..Default::default()
    }
}

/// What the Python reader of whole frames gets (it takes `samples_ns` apart).
fn frame_record_of(index: u64) -> FrameRecord {
    FrameRecord { samples_ns: 0, ..record_of(index) }
}

impl Ring {
    fn new() -> Ring {
        Ring {
            meta: (0..SLOTS).map(|_| SlotMeta::new()).collect(),
            early: (0..SLOTS).map(|_| SlotSamples::new()).collect(),
            samples: (0..SLOTS).map(|_| [AtomicU32::new(0), AtomicU32::new(0)]).collect(),
            write_seq: AtomicU64::new(0),
            sample_seq: AtomicU64::new(0),
        }
    }

    fn slot(&self, index: u64) -> usize {
        (index % SLOTS) as usize
    }

    /// What `RingWriter::publish_samples` then `publish_vad` do for frame
    /// `index`, through the same functions.
    fn publish(&self, index: u64) {
        let slot = self.slot(index);
        let record = record_of(index);
        let pending = write_samples(
            &self.meta[slot],
            &self.early[slot],
            &self.samples[slot],
            &samples_of(index),
            &record,
        );
        announce(&self.sample_seq, index);
        pending.complete(record.publish_ns, record.vad_prob, record.speech);
        announce(&self.write_seq, index);
    }

    fn read_samples(&self, index: u64) -> Option<([f32; SAMPLES], FrameRecord)> {
        if published(&self.sample_seq) <= index {
            return None;
        }
        let slot = self.slot(index);
        let mut out = [f32::NAN; SAMPLES];
        read_samples(&self.meta[slot], &self.early[slot], &self.samples[slot], index, &mut out)
            .map(|record| (out, record))
    }

    fn read(&self, index: u64) -> Option<([f32; SAMPLES], FrameRecord)> {
        if published(&self.write_seq) <= index {
            return None;
        }
        let slot = self.slot(index);
        let mut out = [f32::NAN; SAMPLES];
        read_slot(&self.meta[slot], Some(&self.early[slot]), &self.samples[slot], index, &mut out)
            .map(|record| (out, record))
    }
}

/// What the Python reader makes of a frame it was asked for.
#[derive(Debug, PartialEq)]
enum Taken {
    /// `seq` does not show it yet: the reader waits.
    NotPublished,
    /// Counted as lost (overwritten, or overwritten during the copy).
    Lost,
    /// Accepted, with what it copied.
    Frame([f32; SAMPLES], FrameRecord),
}

impl Ring {
    /// `Reader.read` then `Reader._take` (with `_stamp_shows`) of the Python reader, as
    /// a weakly ordered CPU may perform them: every load Relaxed (CPython has no
    /// atomics), and a SeqCst fence where the reader calls its fence (membarrier(2)
    /// runs `smp_mb` in the calling thread, a full barrier). `whole`: a reader of whole
    /// frames (`write_seq`, frame stamp); else of samples (`sample_seq`, samples stamp).
    fn read_like_python(&self, index: u64, whole: bool) -> Taken {
        let slot = self.slot(index);
        let (seq, stamp_word) = if whole {
            (&self.write_seq, &self.meta[slot].stamp)
        } else {
            (&self.sample_seq, &self.early[slot].stamp)
        };
        if seq.load(Ordering::Relaxed) <= index {
            return Taken::NotPublished; // (the reader fences and loads seq again before it sleeps)
        }
        let expected = stamp_complete(index);
        let mut stamp = stamp_word.load(Ordering::Relaxed);
        if stamp < expected {
            fence(Ordering::SeqCst); // a stamp older than the seq: look again
            stamp = stamp_word.load(Ordering::Relaxed);
        }
        if stamp != expected {
            return Taken::Lost;
        }
        fence(Ordering::SeqCst); // the stamp before the copy
        let meta = &self.meta[slot];
        let samples = [0, 1].map(|k| f32::from_bits(self.samples[slot][k].load(Ordering::Relaxed)));
        let mut record = FrameRecord {
            index: meta.index.load(Ordering::Relaxed),
            capture_ns: meta.capture_ns.load(Ordering::Relaxed),
            flags: meta.flags.load(Ordering::Relaxed),
            ..Default::default()
        };
        if whole {
            record.publish_ns = meta.publish_ns.load(Ordering::Relaxed);
            record.vad_prob = f32::from_bits(meta.vad_prob.load(Ordering::Relaxed));
            record.speech = meta.speech.load(Ordering::Relaxed) != 0;
        } else {
            record.samples_ns = self.early[slot].samples_ns.load(Ordering::Relaxed);
        }
        fence(Ordering::SeqCst); // the copy before the stamp's second load
        if stamp_word.load(Ordering::Relaxed) != expected {
            return Taken::Lost;
        }
        Taken::Frame(samples, record)
    }
}

/// What a reader of samples copies of frame `index` (phase-1 fields only).
fn samples_record_of(index: u64) -> FrameRecord {
    let full = record_of(index);
    FrameRecord {
        index,
        capture_ns: full.capture_ns,
        flags: full.flags,
        samples_ns: full.samples_ns,
        ..Default::default()
    }
}

/// Schedules with up to this many preemptions are explored. Two are enough
/// for the protocol's ordering bugs to show (removing the writer's Release
/// fence or the reader's Acquire fence fails within a second); three take a
/// minute instead of seconds and find nothing more.
const PREEMPTION_BOUND: usize = 2;

/// Runs `check` in every explored schedule with a fresh ring and a writer
/// thread publishing frames 0, 1, 2 into it (frame 2 overwrites slot 0);
/// `check` gets the ring and a function that waits for the writer.
fn model(check: impl Fn(&Ring, &dyn Fn()) + Sync + Send + 'static) {
    model_publishing(3, check);
}

/// [`model`] with the writer publishing frames `0 .. frames`.
fn model_publishing(frames: u64, check: impl Fn(&Ring, &dyn Fn()) + Sync + Send + 'static) {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(PREEMPTION_BOUND);
    model.check(move || {
        let ring = Arc::new(Ring::new());
        let writer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                for index in 0..frames {
                    ring.publish(index);
                }
            })
        };
        let writer = std::cell::RefCell::new(Some(writer));
        check(&ring, &|| writer.borrow_mut().take().expect("joined once").join().unwrap());
    });
}

#[test]
fn a_reader_never_accepts_a_torn_or_wrong_frame() {
    model(|ring, writer| {
        // Frame 0 lives in slot 0, which frame 2 overwrites while we may be reading.
        if let Some((samples, record)) = ring.read(0) {
            assert_eq!(samples, samples_of(0), "accepted torn, stale or overwritten samples");
            assert_eq!(record, record_of(0), "accepted a torn or stale record, or one without its VAD");
        }
        writer();
        let (samples, record) = ring.read(2).expect("the newest frame is readable");
        assert_eq!((samples, record), (samples_of(2), record_of(2)));
        assert!(ring.read(0).is_none(), "an overwritten frame is reported as lost");
    });
}

#[test]
fn a_samples_reader_never_accepts_torn_samples_and_the_vad_follows_complete() {
    model(|ring, writer| {
        if let Some((samples, record)) = ring.read_samples(0) {
            let want = record_of(0);
            assert_eq!(samples, samples_of(0), "accepted torn, stale or overwritten samples");
            assert_eq!(
                (record.index, record.capture_ns, record.flags, record.samples_ns),
                (want.index, want.capture_ns, want.flags, want.samples_ns),
                "accepted a torn or stale samples record"
            );
            // The same frame read whole now: complete with its VAD, or lost.
            if let Some((_, whole)) = ring.read(0) {
                assert_eq!(whole, record_of(0), "a frame visible before its VAD fields");
            }
        }
        writer();
        assert!(ring.read_samples(0).is_none(), "overwritten samples are reported as lost");
        assert_eq!(ring.read_samples(2).map(|(s, _)| s), Some(samples_of(2)));
    });
}

#[test]
fn the_arm64_python_reader_never_accepts_a_torn_or_wrong_frame() {
    for whole in [true, false] {
        let want = move |index| if whole { frame_record_of(index) } else { samples_record_of(index) };
        model(move |ring, writer| {
            // Frame 0 lives in slot 0, which frame 2 overwrites while we may be reading.
            if let Taken::Frame(samples, record) = ring.read_like_python(0, whole) {
                assert_eq!(samples, samples_of(0), "accepted torn, stale or overwritten samples");
                assert_eq!(record, want(0), "accepted a torn or stale record");
            }
            writer();
            assert_eq!(ring.read_like_python(2, whole), Taken::Frame(samples_of(2), want(2)));
            assert_eq!(ring.read_like_python(0, whole), Taken::Lost, "an overwritten frame is lost");
        });
    }
}

#[test]
fn the_arm64_python_reader_never_counts_a_published_frame_lost() {
    for whole in [true, false] {
        // Two frames in two slots: nothing is overwritten, so nothing may be lost.
        model_publishing(2, move |ring, writer| {
            for index in 0..2 {
                assert_ne!(ring.read_like_python(index, whole), Taken::Lost, "frame {index} counted lost");
            }
            writer();
        });
    }
}
