//! A loom model of the slot protocol in LAYOUT.md §6: one writer laps a
//! two-slot ring while a reader copies a frame; loom explores every
//! interleaving (and the weak-memory reorderings the orderings allow) and the
//! reader must never accept a torn frame. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release -p v2m-layout --test loom_seqlock`.
#![cfg(loom)]

use loom::sync::atomic::{fence, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use v2m_layout::{stamp_complete, stamp_writing};

const SLOTS: u64 = 2;
const WORDS: usize = 2;

struct Slot {
    stamp: AtomicU64,
    data: [AtomicU64; WORDS],
}

struct Ring {
    slots: [Slot; SLOTS as usize],
    write_seq: AtomicU64,
}

fn new_ring() -> Ring {
    let slot = || Slot { stamp: AtomicU64::new(0), data: [AtomicU64::new(0), AtomicU64::new(0)] };
    Ring { slots: [slot(), slot()], write_seq: AtomicU64::new(0) }
}

/// The writer's steps, as `RingWriter::publish` does them.
fn publish(ring: &Ring, index: u64) {
    let slot = &ring.slots[(index % SLOTS) as usize];
    slot.stamp.store(stamp_writing(index), Ordering::Relaxed);
    fence(Ordering::Release);
    for word in &slot.data {
        word.store(index, Ordering::Relaxed);
    }
    slot.stamp.store(stamp_complete(index), Ordering::Release);
    ring.write_seq.store(index + 1, Ordering::Release);
}

/// The reader's steps: Some(copy) only if the copy is untorn.
fn read(ring: &Ring, index: u64) -> Option<[u64; WORDS]> {
    if ring.write_seq.load(Ordering::Acquire) <= index {
        return None;
    }
    let slot = &ring.slots[(index % SLOTS) as usize];
    let before = slot.stamp.load(Ordering::Acquire);
    if before != stamp_complete(index) {
        return None;
    }
    let copy = [slot.data[0].load(Ordering::Relaxed), slot.data[1].load(Ordering::Relaxed)];
    fence(Ordering::Acquire);
    (slot.stamp.load(Ordering::Relaxed) == before).then_some(copy)
}

#[test]
fn a_reader_never_accepts_a_torn_or_wrong_frame() {
    loom::model(|| {
        let ring = Arc::new(new_ring());
        let writer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                for index in 0..3 {
                    publish(&ring, index);
                }
            })
        };
        // Frame 0 lives in slot 0, which frame 2 overwrites while we may be reading.
        if let Some(copy) = read(&ring, 0) {
            assert_eq!(copy, [0, 0], "accepted a torn or overwritten frame");
        }
        writer.join().unwrap();
        assert_eq!(read(&ring, 2), Some([2, 2]));
        assert_eq!(read(&ring, 0), None, "an overwritten frame is reported as lost");
    });
}
