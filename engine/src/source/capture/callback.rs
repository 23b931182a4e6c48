//! The audio callback's half of capture: real-time safe by construction.
//!
//! `CallbackSink::push` runs on the driver's thread for every buffer the
//! device delivers. It never allocates, locks, logs or blocks: it converts
//! samples to `f32` straight into a preallocated lock-free SPSC ring
//! (`rtrb`), records where the buffer starts in time in a second one, and
//! unparks the DSP thread (an atomic swap and, if the thread sleeps, one
//! `FUTEX_WAKE`). When the ring is full, the samples that do not fit are
//! counted as lost instead of waiting; the count, and the driver's overruns,
//! go into the next buffer's mark, which places them in the stream.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::Thread;

use cpal::{FromSample, Sample};
use rtrb::Producer;

use crate::priority::{self, OutcomeCell};

/// Counters the callback (and the driver's error callback) share with the DSP thread.
#[derive(Default)]
pub struct CaptureShared {
    /// Device overruns (xruns) the driver reported (its error callback counts them).
    pub overruns: AtomicU64,
    /// The stream failed (device unplugged, invalidated): the DSP thread reopens it.
    pub failed: AtomicBool,
    /// The system's default source changed under a `--source default` stream: the
    /// DSP thread follows it (reopens, or flags the server's own move of the stream).
    pub default_changed: AtomicBool,
    /// Raise the callback thread to real-time priority on its first buffer.
    pub raise_priority: AtomicBool,
    /// What the callback thread got, for the DSP thread to report.
    pub priority: OutcomeCell,
}

/// When a buffer's first sample was captured, and where it sits in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// Sample frames written into the SPSC ring before this buffer.
    pub position: u64,
    /// CLOCK_MONOTONIC ns at which the buffer's first sample was captured.
    pub capture_ns: u64,
    /// CLOCK_MONOTONIC ns at which the callback received the buffer.
    pub arrival_ns: u64,
    /// Sample frames dropped (the SPSC ring was full) between the previous
    /// buffer's samples and this one's.
    pub lost_before: u64,
    /// Device overruns reported since the previous mark.
    pub overruns_before: u64,
}

/// Everything the audio callback owns; moved into the callback closure.
pub struct CallbackSink {
    samples: Producer<f32>,
    marks: Producer<Mark>,
    channels: usize,
    written: u64,
    /// Frames dropped since the last mark that was queued.
    lost: u64,
    /// The overrun count as of the last mark that was queued.
    overruns_marked: u64,
    shared: Arc<CaptureShared>,
    dsp: Thread,
    first_buffer: bool,
}

impl CallbackSink {
    /// A sink feeding `samples` (interleaved, `channels` wide) and `marks`,
    /// waking `dsp` after every buffer.
    pub fn new(
        samples: Producer<f32>,
        marks: Producer<Mark>,
        channels: usize,
        shared: Arc<CaptureShared>,
        dsp: Thread,
    ) -> CallbackSink {
        let overruns_marked = shared.overruns.load(Ordering::Relaxed);
        CallbackSink {
            samples,
            marks,
            channels,
            written: 0,
            lost: 0,
            overruns_marked,
            shared,
            dsp,
            first_buffer: true,
        }
    }

    /// Takes one device buffer, received at `arrival_ns`, whose first sample
    /// was captured at `capture_ns`.
    pub fn push<T>(&mut self, data: &[T], capture_ns: u64, arrival_ns: u64)
    where
        T: Sample,
        f32: FromSample<T>,
    {
        if self.first_buffer {
            // On the driver's thread, which cpal created: a system call, no allocation.
            self.first_buffer = false;
            if self.shared.raise_priority.load(Ordering::Relaxed) {
                self.shared.priority.set(priority::raise_current_thread(priority::CALLBACK_PRIORITY));
            }
        }
        let frames = data.len() / self.channels;
        // `slots()` may under-report (the consumer frees space concurrently);
        // that only makes us drop a little early, never overwrite.
        let room = self.samples.slots() / self.channels;
        let taken = frames.min(room);
        if taken > 0 {
            let overruns = self.shared.overruns.load(Ordering::Relaxed);
            let mark = Mark {
                position: self.written,
                capture_ns,
                arrival_ns,
                lost_before: self.lost,
                overruns_before: overruns - self.overruns_marked,
            };
            // A full marks ring costs timestamp precision until the next mark,
            // and moves the faults it would have carried to that mark.
            if self.marks.push(mark).is_ok() {
                (self.lost, self.overruns_marked) = (0, overruns);
            }
            if let Ok(chunk) = self.samples.write_chunk_uninit(taken * self.channels) {
                chunk.fill_from_iter(data[..taken * self.channels].iter().map(|s| s.to_sample::<f32>()));
            }
            self.written += taken as u64;
        }
        // After this buffer's kept samples: the gap is there.
        self.lost += (frames - taken) as u64;
        self.dsp.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc_counter;

    fn sink(
        capacity: usize,
        channels: usize,
    ) -> (CallbackSink, rtrb::Consumer<f32>, rtrb::Consumer<Mark>, Arc<CaptureShared>) {
        let (samples, samples_out) = rtrb::RingBuffer::new(capacity);
        let (marks, marks_out) = rtrb::RingBuffer::new(4);
        let shared = Arc::new(CaptureShared::default());
        let sink = CallbackSink::new(samples, marks, channels, Arc::clone(&shared), std::thread::current());
        (sink, samples_out, marks_out, shared)
    }

    fn mark(position: u64, ns: u64, lost_before: u64, overruns_before: u64) -> Mark {
        Mark { position, capture_ns: ns, arrival_ns: ns + 1, lost_before, overruns_before }
    }

    #[test]
    fn buffers_are_converted_marked_and_overflow_is_placed_where_it_happened() {
        let (mut sink, mut samples, mut marks, shared) = sink(8, 2);
        sink.push(&[i16::MIN, 0, 16384, -16384], 1000, 1001);
        shared.overruns.fetch_add(1, Ordering::Relaxed);
        sink.push(&[1i16; 8], 2000, 2001); // room for 2 of these 4 frames
        sink.push(&[2i16; 2], 3000, 3001); // no room: lost too
        let got: Vec<f32> = std::iter::from_fn(|| samples.pop().ok()).collect();
        assert_eq!(got[..4], [-1.0, 0.0, 0.5, -0.5]);
        assert_eq!(got.len(), 8);
        sink.push(&[3i16; 2], 4000, 4001);
        assert_eq!(marks.pop(), Ok(mark(0, 1000, 0, 0)));
        assert_eq!(marks.pop(), Ok(mark(2, 2000, 0, 1)), "the overrun came before this buffer");
        // The 2 frames that did not fit, and the whole buffer after them, were
        // lost after frame 4: the next buffer that got in says so.
        assert_eq!(marks.pop(), Ok(mark(4, 4000, 3, 0)));
        assert!(marks.pop().is_err());
    }

    #[test]
    fn faults_wait_for_a_mark_that_gets_in() {
        let (mut sink, mut samples, mut marks, _shared) = sink(64, 1);
        for round in 0..4 {
            sink.push(&[0i16; 4], round, round); // fills the 4-slot marks ring
        }
        sink.push(&[0i16; 52], 10, 10); // 48 frames fit, 4 do not; no room for its mark
        while marks.pop().is_ok() {}
        while samples.pop().is_ok() {}
        sink.push(&[0i16; 4], 20, 21);
        assert_eq!(marks.pop(), Ok(mark(64, 20, 4, 0)));
    }

    #[test]
    fn the_callback_never_allocates() {
        let (mut sink, mut samples, _marks, shared) = sink(4096, 2);
        shared.raise_priority.store(true, Ordering::Relaxed); // the first buffer raises it too
        let i16_buffer = vec![1000i16; 960];
        let f32_buffer = vec![0.25f32; 960];
        let u8_buffer = vec![200u8; 960];
        let before = alloc_counter::allocations_on_this_thread();
        for round in 0..2000u64 {
            // Mixed formats, full rings (samples and marks) and empty ones.
            sink.push(&i16_buffer, round, round);
            sink.push(&f32_buffer, round, round);
            sink.push(&u8_buffer, round, round);
            if round % 3 == 0 {
                while samples.pop().is_ok() {}
            }
        }
        assert_eq!(alloc_counter::allocations_on_this_thread(), before, "the audio callback allocated");
        assert!(shared.priority.get().is_some(), "the first buffer tried to raise the thread");
        let normal = libc::sched_param { sched_priority: 0 };
        // SAFETY: puts this test thread back to normal scheduling.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &normal) };
    }
}
