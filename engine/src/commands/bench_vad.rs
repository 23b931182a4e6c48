//! `v2m-engine bench-vad` (hidden): runs a VAD over a file's frames exactly as
//! `run` would, without a ring, timing every call. `bench/vad.py` uses it to
//! compare detectors, session set-ups and model variants on the same frames.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::output;
use crate::dsp::{channels::ChannelSelection, level, pipeline::FramePipeline};
use crate::error::EngineError;
use crate::source::{self, SourceOptions, SourceSpec};
use crate::vad::{self, VadInput, VadSettings};

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchVadConfig {
    /// A file source.
    pub source: SourceSpec,
    /// Ring sample rate.
    pub rate: u32,
    /// Samples per frame.
    pub frame: u32,
    /// The detector.
    pub vad: VadSettings,
    /// Sleep this long before each frame (not timed): at 32 ms, the cost at
    /// real-time cadence, when caches are cold; zero: back to back.
    pub interval: Duration,
    /// With an interval: let the VAD warm up a quarter interval before each frame.
    pub prepare: bool,
}

/// Prints JSON: per-call timing percentiles and every frame's probability.
pub fn bench_vad(config: &BenchVadConfig) -> Result<(), EngineError> {
    let options = SourceOptions::default();
    let mut source = source::open(&config.source, config.rate, options, Arc::new(AtomicBool::new(false)))?;
    let mut vad = vad::build(&config.vad, config.rate, config.frame)?;
    // Gather the ring-rate frames first (the DSP chain `run` uses), so only VAD calls are timed.
    let channels = source.channels();
    let mut pipeline = FramePipeline::new(
        source.rate(),
        channels,
        ChannelSelection::Mix,
        config.rate,
        config.frame as usize,
        1024,
        1024,
    )?;
    let mut interleaved = vec![0.0f32; 1024 * channels];
    let mut frames: Vec<Vec<f32>> = Vec::new();
    loop {
        let chunk = source.read(&mut interleaved)?;
        if chunk.frames == 0 {
            break;
        }
        pipeline.push(&interleaved[..chunk.frames * channels], |f, _| frames.push(f.to_vec()));
    }
    pipeline.finish(|f, _, _| frames.push(f.to_vec()));

    let mut probabilities = Vec::with_capacity(frames.len());
    let mut ns = Vec::with_capacity(frames.len());
    for frame in &frames {
        if !config.interval.is_zero() {
            // As `run` does with a live source: the VAD warms up while the last
            // quarter of the frame arrives (untimed), then the frame is scored.
            let warm_ahead = config.interval / 4;
            std::thread::sleep(config.interval - warm_ahead);
            if config.prepare {
                vad.prepare();
            }
            std::thread::sleep(warm_ahead);
        }
        let input = VadInput { samples: frame, level: level::measure(frame), discontinuity: false };
        let started = Instant::now();
        probabilities.push(vad.probability(&input));
        ns.push(started.elapsed().as_nanos() as f64);
    }
    let mut sorted = ns.clone();
    sorted.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0) / 1000.0
    };
    let mean = if ns.is_empty() { 0.0 } else { ns.iter().sum::<f64>() / ns.len() as f64 / 1000.0 };
    let doc = json!({
        "frames": frames.len(), "p50_us": pct(0.5), "p90_us": pct(0.9), "p99_us": pct(0.99),
        "max_us": pct(1.0), "mean_us": mean, "probabilities": probabilities,
    });
    output::println(&doc.to_string())
}
