//! `v2m-engine bench-dsp` (hidden): what the DSP thread spends per second of
//! audio on a live source of N channels, without a device or a ring:
//! `bench/channels_cost.py` measures the per-channel cost with it.
//!
//! The work is `run`'s for a capture device: 5 ms device buffers of noise go
//! through the same [`FramePipeline`] (channels kept as they come, one
//! resampler per channel when the device rate is not the ring's), and each
//! frame has its level measured, the VAD's mono view made and its samples
//! copied once, as into a ring slot. The VAD itself is not run: its cost does
//! not depend on the channel count (`bench/vad.py` measures it).

use serde_json::json;

use super::output;
use super::run::{LIVE_RESAMPLER_CHUNK, READ_FRAMES};
use crate::dsp::channels::{ChannelSelection, VadChannel};
use crate::dsp::{level, pipeline::FramePipeline};
use crate::error::EngineError;

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub struct BenchDspConfig {
    /// Channels the device delivers and the ring keeps.
    pub channels: usize,
    /// The device's rate, Hz.
    pub device_rate: u32,
    /// The ring's rate, Hz.
    pub ring_rate: u32,
    /// Samples per ring frame.
    pub frame: u32,
    /// Seconds of audio to push through.
    pub seconds: f64,
}

/// Device buffer length, ms (the engine's default period for ALSA and PulseAudio).
const BUFFER_MS: u32 = 5;

/// Prints JSON: the thread CPU time the chain took and its share of a core at real time.
pub fn bench_dsp(config: &BenchDspConfig) -> Result<(), EngineError> {
    let channels = config.channels;
    let mut pipeline = FramePipeline::new(
        config.device_rate,
        channels,
        ChannelSelection::Pick((0..channels).collect()),
        config.ring_rate,
        config.frame as usize,
        READ_FRAMES,
        LIVE_RESAMPLER_CHUNK,
    )?;
    let buffer_frames = (config.device_rate * BUFFER_MS / 1000) as usize;
    let buffers = (config.seconds * 1000.0 / f64::from(BUFFER_MS)).ceil() as usize;
    // Noise from a fixed linear congruential sequence: the same input every run.
    let mut state = 0x2545_f491_u32;
    let input: Vec<f32> = (0..buffer_frames * channels * 64)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect();
    let mut vad_view = vec![0.0f32; config.frame as usize];
    let mut slot = vec![0.0f32; config.frame as usize * channels];
    let mut frames = 0u64;
    let mut loudness = 0.0f32; // keeps the measured work from being optimised away
    let started = thread_cpu_ns();
    for k in 0..buffers {
        let at = (k % 64) * buffer_frames * channels;
        pipeline.push(&input[at..at + buffer_frames * channels], |frame, _| {
            let heard = VadChannel::Mix.view(frame, channels, &mut vad_view);
            loudness += level::measure(frame).rms + heard[0];
            slot.copy_from_slice(frame);
            frames += 1;
        });
    }
    let cpu_ns = thread_cpu_ns() - started;
    let audio_s = (buffers * buffer_frames) as f64 / f64::from(config.device_rate);
    let doc = json!({
        "channels": channels, "device_rate": config.device_rate, "ring_rate": config.ring_rate,
        "audio_s": audio_s, "frames": frames, "cpu_ns": cpu_ns,
        "core_share": cpu_ns as f64 / 1e9 / audio_s, "checksum": loudness + slot[0],
    });
    output::println(&doc.to_string())
}

/// CPU time this thread has used, ns.
fn thread_cpu_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map_or(0, |now| now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64)
}
