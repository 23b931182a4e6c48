//! A loom model of the slot protocol (`LAYOUT.md` §6), running the shipped
//! `v2m_layout::seqlock` functions on loom's atomics: one writer laps a
//! two-slot ring while a reader copies a frame; loom explores every
//! interleaving (and the weak-memory reorderings the orderings allow) and the
//! reader must never accept a torn or wrong frame. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release -p v2m-layout --test loom_seqlock`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, AtomicU64};
use loom::sync::Arc;
use loom::thread;
use v2m_layout::seqlock::{announce, published, read_slot, write_slot};
use v2m_layout::{FrameRecord, SlotMeta};

const SLOTS: u64 = 2;
const SAMPLES: usize = 2;

struct Ring {
    meta: Vec<SlotMeta>,
    samples: Vec<[AtomicU32; SAMPLES]>,
    write_seq: AtomicU64,
}

/// Frame `index`'s content: nothing in it equals a never-written slot's zeros.
fn samples_of(index: u64) -> [f32; SAMPLES] {
    [index as f32 + 1.0, -(index as f32) - 1.0]
}

fn record_of(index: u64) -> FrameRecord {
    FrameRecord { index, capture_ns: 10 * index + 7, flags: index as u32 + 1, ..Default::default() }
}

impl Ring {
    fn new() -> Ring {
        Ring {
            meta: (0..SLOTS).map(|_| SlotMeta::new()).collect(),
            samples: (0..SLOTS).map(|_| [AtomicU32::new(0), AtomicU32::new(0)]).collect(),
            write_seq: AtomicU64::new(0),
        }
    }

    fn slot(&self, index: u64) -> usize {
        (index % SLOTS) as usize
    }

    /// What `RingWriter::publish` does for frame `index`, through the same functions.
    fn publish(&self, index: u64) {
        let slot = self.slot(index);
        write_slot(&self.meta[slot], &self.samples[slot], &samples_of(index), &record_of(index));
        announce(&self.write_seq, index);
    }

    fn read(&self, index: u64) -> Option<([f32; SAMPLES], FrameRecord)> {
        if published(&self.write_seq) <= index {
            return None;
        }
        let slot = self.slot(index);
        let mut out = [f32::NAN; SAMPLES];
        read_slot(&self.meta[slot], &self.samples[slot], index, &mut out).map(|record| (out, record))
    }
}

/// Schedules with up to this many preemptions are explored. Two are enough
/// for the protocol's ordering bugs to show (removing the writer's Release
/// fence or the reader's Acquire fence fails within a second); three take a
/// minute instead of seconds and find nothing more.
const PREEMPTION_BOUND: usize = 2;

#[test]
fn a_reader_never_accepts_a_torn_or_wrong_frame() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(PREEMPTION_BOUND);
    model.check(|| {
        let ring = Arc::new(Ring::new());
        let writer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                for index in 0..3 {
                    ring.publish(index);
                }
            })
        };
        // Frame 0 lives in slot 0, which frame 2 overwrites while we may be reading.
        if let Some((samples, record)) = ring.read(0) {
            assert_eq!(samples, samples_of(0), "accepted torn, stale or overwritten samples");
            assert_eq!(record, record_of(0), "accepted a torn or stale record");
        }
        writer.join().unwrap();
        let (samples, record) = ring.read(2).expect("the newest frame is readable");
        assert_eq!((samples, record), (samples_of(2), record_of(2)));
        assert!(ring.read(0).is_none(), "an overwritten frame is reported as lost");
    });
}
