//! The DSP thread's half of the marks side channel: when each device buffer
//! was captured and arrived, and what was lost just before it.
//!
//! Faults travel in the marks, at the stream position where they happened,
//! rather than as bare counters: samples are lost when the queue is full, so
//! the gap sits after everything queued, not at the queue's head where a
//! counter read by the DSP thread would have put it. The DSP thread cuts its
//! reads at the next fault ([`StreamMarks::next_fault_within`]) so the flag
//! lands on the frame that holds the gap.

use std::collections::VecDeque;

use rtrb::Consumer;

use super::callback::Mark;
use v2m_ring::clock;

/// Device buffers whose arrival times are remembered, to date frames' last samples.
const ARRIVAL_HISTORY: usize = 256;

/// Faults reported before a position in the stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Sample frames dropped because the queue was full.
    pub lost_frames: u64,
    /// Device overruns (xruns) the driver reported.
    pub overruns: u64,
}

/// The marks of the current stream, consumed as the DSP thread reads samples.
pub struct StreamMarks {
    marks: Consumer<Mark>,
    rate: u32,
    /// Sample frames read from earlier streams (before the last reopen).
    stream_base: u64,
    last: Option<Mark>,
    /// (position counted from the first stream, arrival ns) of recent buffers, oldest first.
    arrivals: VecDeque<(u64, u64)>,
    /// Faults of consumed marks not yet taken.
    faults: Faults,
}

impl StreamMarks {
    /// Marks of a stream delivering `rate` sample frames per second.
    pub fn new(marks: Consumer<Mark>, rate: u32) -> StreamMarks {
        StreamMarks {
            marks,
            rate,
            stream_base: 0,
            last: None,
            arrivals: VecDeque::with_capacity(ARRIVAL_HISTORY),
            faults: Faults::default(),
        }
    }

    /// A reopened stream's marks; `frames_read` were read from the old one.
    pub fn next_stream(&mut self, marks: Consumer<Mark>, frames_read: u64) {
        self.marks = marks;
        self.stream_base += frames_read;
        self.last = None;
    }

    /// Consumes the marks of buffers starting before `end` (a position in
    /// the current stream), remembering their times and faults.
    pub fn drain_before(&mut self, end: u64) {
        while let Ok(mark) = self.marks.peek() {
            if mark.position >= end {
                break;
            }
            if self.arrivals.len() == ARRIVAL_HISTORY {
                self.arrivals.pop_front();
            }
            self.arrivals.push_back((self.stream_base + mark.position, mark.arrival_ns));
            self.faults.lost_frames += mark.lost_before;
            self.faults.overruns += mark.overruns_before;
            self.last = Some(*mark);
            let _ = self.marks.pop();
        }
    }

    /// CLOCK_MONOTONIC time of the sample frame at `position` in the current
    /// stream; consumes the marks up to it.
    pub fn capture_time_at(&mut self, position: u64) -> u64 {
        self.drain_before(position + 1);
        match self.last {
            Some(mark) => {
                let offset = (position - mark.position) as f64 * 1e9 / f64::from(self.rate);
                mark.capture_ns + offset as u64
            }
            None => clock::monotonic_ns(),
        }
    }

    /// The position (in the current stream) of the first queued buffer in
    /// `position + 1 .. end` that follows a fault: a read must stop there.
    /// Marks are in stream order, so only those up to `end` are looked at.
    pub fn next_fault_within(&mut self, position: u64, end: u64) -> Option<u64> {
        let queued = self.marks.slots();
        let chunk = self.marks.read_chunk(queued).ok()?;
        let (first, second) = chunk.as_slices();
        // Not committed: the marks stay queued.
        first
            .iter()
            .chain(second)
            .take_while(|mark| mark.position < end)
            .find(|mark| mark.position > position && (mark.lost_before > 0 || mark.overruns_before > 0))
            .map(|mark| mark.position)
    }

    /// The faults of the marks consumed since the last call.
    pub fn take_faults(&mut self) -> Faults {
        std::mem::take(&mut self.faults)
    }

    /// Arrival time of the buffer holding `position` (counted from the first stream).
    pub fn arrival_ns(&self, position: u64) -> Option<u64> {
        self.arrivals.iter().rev().find(|&&(start, _)| start <= position).map(|&(_, ns)| ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(position: u64, lost_before: u64, overruns_before: u64) -> Mark {
        Mark {
            position,
            capture_ns: 1_000_000 + position,
            arrival_ns: 2_000_000 + position,
            lost_before,
            overruns_before,
        }
    }

    fn marks(list: &[Mark]) -> StreamMarks {
        let (mut input, output) = rtrb::RingBuffer::new(16);
        for m in list {
            input.push(*m).unwrap();
        }
        StreamMarks::new(output, 1_000_000_000) // 1 ns per frame
    }

    #[test]
    fn a_fault_is_found_where_it_happened_not_where_reading_is() {
        let mut m = marks(&[mark(0, 0, 0), mark(100, 0, 0), mark(200, 7, 0), mark(300, 0, 1)]);
        assert_eq!(m.next_fault_within(0, 200), None, "a read of 200 frames ends before it");
        assert_eq!(m.next_fault_within(0, 201), Some(200));
        assert_eq!(m.capture_time_at(0), 1_000_000);
        assert_eq!(m.take_faults(), Faults::default(), "nothing was lost before frame 0");
        m.drain_before(200);
        assert_eq!(m.take_faults(), Faults::default(), "nor before frame 200");
        assert_eq!(m.next_fault_within(200, u64::MAX), Some(300));
        assert_eq!(m.capture_time_at(200), 1_000_200);
        assert_eq!(m.take_faults(), Faults { lost_frames: 7, overruns: 0 });
        assert_eq!(m.capture_time_at(300), 1_000_300);
        assert_eq!(m.take_faults(), Faults { lost_frames: 0, overruns: 1 });
        assert_eq!(m.next_fault_within(300, u64::MAX), None);
    }

    #[test]
    fn times_count_on_across_a_reopen() {
        let mut m = marks(&[mark(0, 0, 0), mark(10, 0, 0)]);
        assert_eq!(m.capture_time_at(15), 1_000_015);
        let (mut input, output) = rtrb::RingBuffer::new(4);
        input.push(mark(0, 0, 0)).unwrap();
        m.next_stream(output, 20);
        assert_eq!(m.capture_time_at(3), 1_000_003);
        assert_eq!(m.arrival_ns(12), Some(2_000_010));
        assert_eq!(m.arrival_ns(23), Some(2_000_000), "position 23 is the new stream's frame 3");
    }
}
