//! The last stage of `run`: paces each frame, measures its level, runs the
//! VAD and the speech gate, and publishes it into the ring.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use v2m_layout::seqlock::FrameRecord;
use v2m_layout::{FLAG_DEVICE_OVERRUN, FLAG_DISCONTINUITY, FLAG_PADDED, FLAG_SOURCE_RESTART};

use crate::dsp::channels::VadChannel;
use crate::dsp::level;
use crate::log;
use crate::pacing::FrameClock;
use crate::source::{Chunk, Source};
use crate::vad::{hysteresis::SpeechGate, Vad, VadInput};
use v2m_ring::shm::cursors::PacingReaders;
use v2m_ring::RingWriter;

/// Turns frames into published ring slots.
pub struct Publisher<'a> {
    /// The ring.
    pub writer: RingWriter,
    vad: Box<dyn Vad>,
    gate: SpeechGate,
    /// When each frame is due and was captured.
    pub clock: FrameClock,
    /// Flags for the next frame published.
    pending_flags: u32,
    /// Raised by the stop signals: pacing waits end early.
    pub stop: &'a AtomicBool,
    /// Raised by SIGUSR1: log a status line after the next frame.
    report: &'a AtomicBool,
    /// With `--pace-to-readers`: the readers that hold the replay back.
    pacing: Option<PacingReaders>,
    /// What the VAD listens to in a multi-channel frame.
    vad_channel: VadChannel,
    /// The VAD's mono view of a multi-channel frame.
    vad_view: Vec<f32>,
}

impl<'a> Publisher<'a> {
    /// A publisher writing into `writer`, its VAD listening to `vad_channel`.
    pub fn new(
        writer: RingWriter,
        vad: Box<dyn Vad>,
        vad_channel: VadChannel,
        gate: SpeechGate,
        clock: FrameClock,
        stop: &'a AtomicBool,
        report: &'a AtomicBool,
    ) -> Publisher<'a> {
        let vad_view = vec![0.0; writer.geometry().frame_samples as usize];
        Publisher {
            writer,
            vad,
            gate,
            clock,
            pending_flags: 0,
            stop,
            report,
            pacing: None,
            vad_channel,
            vad_view,
        }
    }

    /// From now on, never overwrites a frame a pacing reader still needs.
    pub fn pace_to(&mut self, readers: PacingReaders) {
        self.pacing = Some(readers);
    }

    /// The next frame is nearly complete: lets the VAD warm its caches now.
    pub fn prepare_vad(&mut self) {
        self.vad.prepare();
    }

    /// Counts what went wrong before a chunk and flags the next frame.
    pub fn note_chunk_faults(&mut self, chunk: &Chunk) {
        if chunk.restarted {
            self.pending_flags |= FLAG_DISCONTINUITY | FLAG_SOURCE_RESTART;
            self.writer.count(|s| &s.source_restarts, 1);
        }
        if chunk.lost_frames > 0 {
            self.pending_flags |= FLAG_DISCONTINUITY;
            self.writer.count(|s| &s.samples_lost, chunk.lost_frames);
        }
        if chunk.overruns > 0 {
            self.pending_flags |= FLAG_DISCONTINUITY | FLAG_DEVICE_OVERRUN;
            self.writer.count(|s| &s.device_overruns, chunk.overruns);
        }
    }

    /// `frame` (the ring's channels, interleaved) starts at ring sample frame
    /// `position`; its first `valid` sample frames are audio (fewer: the source
    /// ended inside it). `source` may know when the frame's last sample
    /// arrived; `source_per_ring` converts ring positions to source positions.
    pub fn frame(
        &mut self,
        frame: &[f32],
        position: u64,
        valid: usize,
        source: &dyn Source,
        source_per_ring: f64,
    ) {
        let channels = self.writer.geometry().channels as usize;
        let frame_samples = frame.len() / channels;
        let end = position + frame_samples as u64;
        self.clock.wait_for(end, self.stop);
        let arrival_ns = source
            .arrival_ns(source_position_of(end - 1, source_per_ring))
            .unwrap_or_else(|| self.clock.due_ns(end));
        if valid < frame_samples {
            self.pending_flags |= FLAG_PADDED;
        }
        let flags = std::mem::take(&mut self.pending_flags);
        // The metadata's level is the whole frame's, every channel; the VAD's is its own view's.
        let level = level::measure(&frame[..valid * channels]);
        if let Some(readers) = self.pacing.as_mut() {
            let slots = u64::from(self.writer.geometry().slot_count);
            readers.wait_for_room(self.writer.next_index(), slots, self.stop);
        }
        // The samples go out before the VAD runs: readers of the audio do not
        // wait for the inference (LAYOUT.md §6, two-phase publish).
        let record = FrameRecord {
            capture_ns: self.clock.capture_ns(position),
            rms: level.rms,
            peak: level.peak,
            flags,
            valid_samples: valid as u32,
            arrival_ns,
            ..Default::default()
        };
        let published = self.writer.publish_samples(frame, &record);
        let started = Instant::now();
        let discontinuity = flags & FLAG_DISCONTINUITY != 0;
        let heard = self.vad_channel.view(frame, channels, &mut self.vad_view);
        let heard_level = if channels == 1 { level } else { level::measure(&heard[..valid]) };
        let vad_prob = self.vad.probability(&VadInput { samples: heard, level: heard_level, discontinuity });
        self.writer.record_vad_time(started.elapsed().as_nanos() as u64);
        let speech = self.gate.update(vad_prob, discontinuity);
        let index = self.writer.publish_vad(published, vad_prob, speech);
        if self.report.swap(false, Ordering::Relaxed) {
            self.log_status(index + 1);
        }
    }

    fn log_status(&self, frames: u64) {
        let stats = &self.writer.header().stats;
        let vad_frames = stats.vad_frames.load(Ordering::Relaxed).max(1);
        log::info!(
            "{frames} frames published; {} samples lost, {} device overruns, {} source restarts; VAD {:.0} µs per frame",
            stats.samples_lost.load(Ordering::Relaxed),
            stats.device_overruns.load(Ordering::Relaxed),
            stats.source_restarts.load(Ordering::Relaxed),
            stats.vad_ns_total.load(Ordering::Relaxed) as f64 / vad_frames as f64 / 1000.0,
        );
    }
}

/// The source sample frame that ring sample `ring_position` was made from
/// (the resampler's delay is removed, so the two line up in time).
fn source_position_of(ring_position: u64, source_per_ring: f64) -> u64 {
    (ring_position as f64 * source_per_ring).ceil() as u64
}
