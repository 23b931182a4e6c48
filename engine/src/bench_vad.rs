//! `v2m-engine bench-vad` (hidden): runs a VAD over a file's frames exactly as
//! `run` would, without a ring, timing every call. `bench/vad.py` uses it to
//! compare detectors, session set-ups and model variants on the same frames.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, ValueEnum};
use ort::session::builder::GraphOptimizationLevel;
use serde_json::json;

use crate::capture::CaptureOptions;
use crate::cli::VadChoice;
use crate::dsp::{level, pipeline::FramePipeline};
use crate::error::EngineError;
use crate::source::{self, SourceOptions, SourceSpec};
use crate::vad::silero::{SessionTuning, SileroVad};
use crate::vad::{assets, energy::EnergyVad, NoVad, Vad, VadInput};

/// Options of `bench-vad`.
#[derive(Args, Debug)]
pub struct BenchVadArgs {
    /// A file:PATH source.
    #[arg(long)]
    pub source: SourceSpec,
    /// Ring sample rate.
    #[arg(long, default_value_t = 16_000)]
    pub rate: u32,
    /// Samples per frame.
    #[arg(long, default_value_t = 512)]
    pub frame: u32,
    /// Detector.
    #[arg(long, value_enum, default_value_t = VadChoice::Silero)]
    pub vad: VadChoice,
    /// Silero model file.
    #[arg(long)]
    pub vad_model: Option<PathBuf>,
    /// ONNX Runtime library.
    #[arg(long)]
    pub ort_lib: Option<PathBuf>,
    /// Graph optimisation level.
    #[arg(long, value_enum, default_value_t = OptLevel::Level3)]
    pub opt_level: OptLevel,
    /// Use IoBinding.
    #[arg(long)]
    pub io_binding: bool,
    /// Sleep this long before each frame (not timed), e.g. 32 to see the cost at
    /// real-time cadence, where caches are cold; 0: back to back.
    #[arg(long, default_value_t = 0.0)]
    pub interval_ms: f64,
}

/// `--opt-level` choices.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OptLevel {
    /// No graph optimisation.
    Disable,
    /// Basic.
    Level1,
    /// Extended.
    Level2,
    /// Layout.
    Level3,
    /// All.
    All,
}

/// Prints JSON: per-call timing percentiles and every frame's probability.
pub fn bench_vad(args: &BenchVadArgs) -> Result<(), EngineError> {
    let options = SourceOptions {
        looping: false,
        capture: CaptureOptions { device_rate: None, device_channels: None, buffer_ms: 1000, period_ms: 10 },
    };
    let mut source = source::open(&args.source, args.rate, options, Arc::new(AtomicBool::new(false)))?;
    let mut vad: Box<dyn Vad> = match args.vad {
        VadChoice::Off => Box::new(NoVad),
        VadChoice::Energy => Box::new(EnergyVad::new(args.rate, args.frame)),
        VadChoice::Silero => {
            let files = assets::locate(args.vad_model.as_deref(), args.ort_lib.as_deref())?;
            let optimization = match args.opt_level {
                OptLevel::Disable => GraphOptimizationLevel::Disable,
                OptLevel::Level1 => GraphOptimizationLevel::Level1,
                OptLevel::Level2 => GraphOptimizationLevel::Level2,
                OptLevel::Level3 => GraphOptimizationLevel::Level3,
                OptLevel::All => GraphOptimizationLevel::All,
            };
            Box::new(SileroVad::tuned(
                &files,
                args.rate,
                SessionTuning { optimization, io_binding: args.io_binding },
            )?)
        }
    };
    // Gather the ring-rate frames first (the DSP chain `run` uses), so only VAD calls are timed.
    let channels = source.channels();
    let mut pipeline =
        FramePipeline::new(source.rate(), channels, args.rate, args.frame as usize, 1024, 1024)?;
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
        if args.interval_ms > 0.0 {
            std::thread::sleep(std::time::Duration::from_secs_f64(args.interval_ms / 1000.0));
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
    println!(
        "{}",
        json!({
            "frames": frames.len(), "p50_us": pct(0.5), "p90_us": pct(0.9), "p99_us": pct(0.99),
            "max_us": pct(1.0), "mean_us": mean, "probabilities": probabilities,
        })
    );
    Ok(())
}
