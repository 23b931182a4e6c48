//! The DSP thread's end of the queues the audio callback fills: samples,
//! read in chunks that end where the next fault begins.

use rtrb::Consumer;

use super::callback::Mark;
use super::marks::StreamMarks;
use crate::source::Chunk;

/// Samples and marks from the callback, with the position read so far.
pub struct CaptureQueue {
    samples: Consumer<f32>,
    marks: StreamMarks,
    channels: usize,
    /// Sample frames read since the current stream opened.
    position: u64,
}

impl CaptureQueue {
    /// The queues of a stream of `channels` interleaved channels at `rate`.
    pub fn new(samples: Consumer<f32>, marks: Consumer<Mark>, channels: usize, rate: u32) -> CaptureQueue {
        CaptureQueue { samples, marks: StreamMarks::new(marks, rate), channels, position: 0 }
    }

    /// Switches to a reopened stream's queues (what the old ones still hold is dropped).
    pub fn next_stream(&mut self, samples: Consumer<f32>, marks: Consumer<Mark>) {
        self.samples = samples;
        self.marks.next_stream(marks, self.position);
        self.position = 0;
    }

    /// Moves queued samples into `out`, up to the next fault, with the faults
    /// just before them; `None` when nothing is queued.
    pub fn read(&mut self, out: &mut [f32]) -> Option<Chunk> {
        let channels = self.channels;
        let available = self.samples.slots() / channels;
        if available == 0 {
            return None;
        }
        let capture_ns = self.marks.capture_time_at(self.position);
        let faults = self.marks.take_faults();
        let reach = available.min(out.len() / channels);
        // Stop before the next gap, so that its flag lands on the frame that holds it.
        let end = self.position + reach as u64;
        let frames = self
            .marks
            .next_fault_within(self.position, end)
            .map_or(reach, |at| (at - self.position) as usize);
        let n = frames * channels;
        let chunk = self.samples.read_chunk(n).expect("n samples are available");
        let (first, second) = chunk.as_slices();
        out[..first.len()].copy_from_slice(first);
        out[first.len()..n].copy_from_slice(second);
        chunk.commit_all();
        self.position += frames as u64;
        self.marks.drain_before(self.position);
        Some(Chunk {
            frames,
            restarted: false,
            lost_frames: faults.lost_frames,
            overruns: faults.overruns,
            capture_ns: Some(capture_ns),
        })
    }

    /// Arrival time of the buffer holding `position` (counted from the first stream).
    pub fn arrival_ns(&self, position: u64) -> Option<u64> {
        self.marks.arrival_ns(position)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use super::*;
    use crate::source::capture::callback::{CallbackSink, CaptureShared};

    /// A callback sink and the queue it feeds: `capacity` frames of mono at 1 kHz.
    fn pair(capacity: usize) -> (CallbackSink, CaptureQueue, Arc<CaptureShared>) {
        let (samples_in, samples_out) = rtrb::RingBuffer::new(capacity);
        let (marks_in, marks_out) = rtrb::RingBuffer::new(64);
        let shared = Arc::new(CaptureShared::default());
        let sink = CallbackSink::new(samples_in, marks_in, 1, Arc::clone(&shared), std::thread::current());
        (sink, CaptureQueue::new(samples_out, marks_out, 1, 1000), shared)
    }

    fn ramp(from: i16, n: i16) -> Vec<i16> {
        (from..from + n).collect()
    }

    #[test]
    fn a_full_queue_is_flagged_after_what_it_held_not_before() {
        let (mut sink, mut queue, _) = pair(8);
        sink.push(&ramp(0, 4), 1_000_000_000, 0);
        sink.push(&ramp(4, 4), 1_004_000_000, 0);
        sink.push(&ramp(8, 4), 1_008_000_000, 0); // the queue is full: lost
        let mut out = [0.0f32; 64];
        let chunk = queue.read(&mut out).unwrap();
        assert_eq!((chunk.frames, chunk.lost_frames), (8, 0), "the queued samples came before the gap");
        assert_eq!(chunk.capture_ns, Some(1_000_000_000));
        sink.push(&ramp(12, 4), 1_012_000_000, 0);
        let chunk = queue.read(&mut out).unwrap();
        assert_eq!((chunk.frames, chunk.lost_frames), (4, 4), "the gap is before these");
        assert_eq!(out[0], 12.0 / 32768.0);
        assert_eq!(chunk.capture_ns, Some(1_012_000_000));
    }

    #[test]
    fn a_read_stops_where_the_next_fault_is() {
        let (mut sink, mut queue, shared) = pair(64);
        sink.push(&ramp(0, 4), 0, 0);
        shared.overruns.fetch_add(2, Ordering::Relaxed);
        sink.push(&ramp(100, 4), 0, 0);
        sink.push(&ramp(104, 4), 0, 0);
        let mut out = [0.0f32; 64];
        let first = queue.read(&mut out).unwrap();
        assert_eq!((first.frames, first.overruns), (4, 0));
        let second = queue.read(&mut out).unwrap();
        assert_eq!((second.frames, second.overruns), (8, 2), "up to the end of what is queued");
        assert!(queue.read(&mut out).is_none());
    }
}
