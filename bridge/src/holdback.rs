//! Bounded waiting for lost frames (`mirror --recover-ms`): the frames after a gap
//! are held, in index order, while the gap is asked for again; each is written when
//! the frames before it are (the gap filled) or when it has waited the bound (what
//! is still missing before it is lost). Audio that comes late is lost audio: no
//! frame waits longer than the bound, and with no gap nothing waits at all.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::{Duration, Instant};

use v2m_layout::seqlock::FrameRecord;

/// A frame waiting for the ones before it.
pub struct Held {
    /// The frame's record as it came.
    pub record: FrameRecord,
    /// Its samples.
    pub samples: Vec<f32>,
    /// It came because the mirror asked for it again.
    pub resent: bool,
    since: Instant,
}

/// What became of a frame offered to the holdback.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// It is the next frame and nothing waits: write it now.
    WriteNow,
    /// It waits; if it opened a gap, the indices to ask for again.
    Held(Option<Range<u64>>),
    /// Its place is already written, given up or held: drop it.
    Late,
}

/// The frames held after gaps, for one mirrored ring.
pub struct Holdback {
    bound: Duration,
    most: usize,
    held: BTreeMap<u64, Held>,
    /// Every index below this was written, is held, or was asked for.
    seen_to: u64,
    spare: Vec<Vec<f32>>,
}

impl Holdback {
    /// Holds frames up to `bound`, and never more than `most` frames.
    pub fn new(bound: Duration, most: usize) -> Holdback {
        Holdback { bound, most: most.max(1), held: BTreeMap::new(), seen_to: 0, spare: Vec::new() }
    }

    /// A frame arrived; `next` is the index the ring writes next.
    pub fn offer(
        &mut self,
        next: u64,
        record: &FrameRecord,
        samples: &[f32],
        resent: bool,
        now: Instant,
    ) -> Offer {
        let index = record.index;
        if index < next || self.held.contains_key(&index) {
            return Offer::Late;
        }
        let expected = self.seen_to.max(next);
        self.seen_to = expected.max(index + 1);
        if index == next && self.held.is_empty() {
            return Offer::WriteNow;
        }
        let mut copy = self.spare.pop().unwrap_or_default();
        copy.clear();
        copy.extend_from_slice(samples);
        self.held.insert(index, Held { record: *record, samples: copy, resent, since: now });
        Offer::Held((index > expected).then_some(expected..index))
    }

    /// The next frame to write, if one is due: the frame at `next`, or, once a held
    /// frame has waited its bound (or too many wait), the first held frame (the gap
    /// before it is lost). Hand it back with [`Holdback::recycle`] once written.
    pub fn due(&mut self, next: u64, now: Instant) -> Option<Held> {
        let (&first, _) = self.held.first_key_value()?;
        let expired = self.deadline().is_some_and(|deadline| now >= deadline);
        if first == next || expired || self.held.len() > self.most {
            return self.held.pop_first().map(|(_, held)| held);
        }
        None
    }

    /// Every held frame, in order, whatever is missing: the stream ended.
    pub fn drain(&mut self) -> Option<Held> {
        self.held.pop_first().map(|(_, held)| held)
    }

    /// When the longest-waiting held frame has waited the bound.
    pub fn deadline(&self) -> Option<Instant> {
        self.held.values().map(|held| held.since).min().map(|since| since + self.bound)
    }

    /// Takes back a written frame's buffer for the next held frame.
    pub fn recycle(&mut self, held: Held) {
        self.spare.push(held.samples);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_millis(100);

    fn record(index: u64) -> FrameRecord {
        FrameRecord { index, ..FrameRecord::default() }
    }

    /// Offers `index` and writes whatever is due, as a mirror does; the indices written.
    struct Ring {
        holdback: Holdback,
        next: u64,
        written: Vec<u64>,
    }

    impl Ring {
        fn new() -> Ring {
            Ring { holdback: Holdback::new(BOUND, 64), next: 0, written: Vec::new() }
        }

        fn offer(&mut self, index: u64, now: Instant) -> Offer {
            let offer = self.holdback.offer(self.next, &record(index), &[index as f32], false, now);
            if offer == Offer::WriteNow {
                self.write(index);
            }
            self.release(now);
            offer
        }

        fn release(&mut self, now: Instant) {
            while let Some(held) = self.holdback.due(self.next, now) {
                assert_eq!(held.samples, vec![held.record.index as f32]);
                self.write(held.record.index);
                self.holdback.recycle(held);
            }
        }

        fn write(&mut self, index: u64) {
            self.written.push(index);
            self.next = index + 1;
        }
    }

    #[test]
    fn with_no_gap_nothing_waits() {
        let (mut ring, now) = (Ring::new(), Instant::now());
        for index in 0..5 {
            assert_eq!(ring.offer(index, now), Offer::WriteNow);
        }
        assert_eq!(ring.written, vec![0, 1, 2, 3, 4]);
        assert_eq!(ring.holdback.deadline(), None);
    }

    #[test]
    fn a_gap_filled_in_time_is_written_in_order() {
        let (mut ring, now) = (Ring::new(), Instant::now());
        ring.offer(0, now);
        assert_eq!(ring.offer(3, now), Offer::Held(Some(1..3)));
        assert_eq!(ring.offer(4, now), Offer::Held(None), "no new gap");
        assert_eq!(ring.offer(2, now), Offer::Held(None));
        assert_eq!(ring.written, vec![0]);
        assert_eq!(ring.offer(1, now + BOUND / 2), Offer::Held(None));
        assert_eq!(ring.written, vec![0, 1, 2, 3, 4]);
        assert_eq!(ring.offer(3, now), Offer::Late, "a repeat");
    }

    #[test]
    fn a_gap_not_filled_within_the_bound_is_lost() {
        let (mut ring, now) = (Ring::new(), Instant::now());
        ring.offer(0, now);
        assert_eq!(ring.offer(2, now), Offer::Held(Some(1..2)));
        ring.release(now + BOUND / 2);
        assert_eq!(ring.written, vec![0]);
        assert_eq!(ring.holdback.deadline(), Some(now + BOUND));
        ring.release(now + BOUND);
        assert_eq!(ring.written, vec![0, 2]);
        assert_eq!(ring.offer(1, now + BOUND), Offer::Late, "too late: given up");
    }

    #[test]
    fn a_frame_resent_late_does_not_extend_the_wait_of_those_after_it() {
        let (mut ring, now) = (Ring::new(), Instant::now());
        ring.offer(0, now);
        ring.offer(3, now); // asks for 1..3
        ring.offer(2, now + BOUND / 2); // resent, but 1 is still missing
        ring.release(now + BOUND);
        assert_eq!(ring.written, vec![0, 2, 3], "3 waited its bound: 1 is lost, 2 and 3 go");
    }

    #[test]
    fn a_second_gap_is_asked_for_on_its_own() {
        let (mut ring, now) = (Ring::new(), Instant::now());
        ring.offer(0, now);
        assert_eq!(ring.offer(2, now), Offer::Held(Some(1..2)));
        assert_eq!(ring.offer(5, now), Offer::Held(Some(3..5)));
        assert_eq!(ring.offer(4, now), Offer::Held(None), "inside a gap already asked for");
    }

    #[test]
    fn never_more_than_most_frames_wait() {
        let (mut ring, now) = (Ring { holdback: Holdback::new(BOUND, 2), ..Ring::new() }, Instant::now());
        ring.offer(0, now);
        for index in [2, 4, 6, 8] {
            ring.offer(index, now);
        }
        assert_eq!(ring.written, vec![0, 2, 4], "at most 2 wait");
        while let Some(held) = ring.holdback.drain() {
            ring.write(held.record.index);
        }
        assert_eq!(ring.written, vec![0, 2, 4, 6, 8]);
    }
}
