//! Silero VAD, run on the DSP thread by one of two kernels: [`native`]
//! (the model's arithmetic in Rust, the default) or [`onnx_runtime`] (the
//! model through ONNX Runtime, the reference).
//!
//! Streaming use of the model, exactly as Silero's own `OnnxWrapper` does it:
//! every call gets a window of 512 samples at 16 kHz (256 at 8 kHz) with the
//! previous call's last 64 (32) samples prepended as context, plus the
//! recurrent `state` [2, 1, 128] the previous call returned, and `sr`. A
//! discontinuity resets context and state to zeros. Rings at other rates feed
//! the model through the resampler at 16 kHz; ring frames that are not one
//! window long are re-cut into windows, and a frame's probability is that of
//! the last window completed in it.

pub mod native;
pub mod onnx_runtime;
mod onnx_weights;

use std::fmt;
use std::str::FromStr;

pub use onnx_runtime::{GraphOptimization, SessionTuning};

use super::{Vad, VadInput};
use crate::dsp::resample::Resampler;
use crate::error::EngineError;
use crate::log;

/// Recurrent state: [2, batch 1, 128] (`h` then `c`).
const STATE_LEN: usize = 2 * 128;

/// What computes one window.
pub trait SileroKernel {
    /// The speech probability of `input` (context, then window), updating
    /// `state` as the model's `stateN` output.
    fn run(&mut self, input: &[f32], state: &mut [f32]) -> Result<f32, String>;

    /// Brings the weights into the caches (see [`Vad::prepare`]).
    fn prepare(&mut self) {}
}

impl SileroKernel for native::NativeSilero {
    fn run(&mut self, input: &[f32], state: &mut [f32]) -> Result<f32, String> {
        Ok(native::NativeSilero::run(self, input, state))
    }

    fn prepare(&mut self) {
        self.touch_weights();
    }
}

/// Which kernel runs the model (`--vad-backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// The model's arithmetic in Rust, weights read from the `.onnx` file.
    #[default]
    Native,
    /// ONNX Runtime.
    Ort,
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(text: &str) -> Result<Backend, String> {
        match text {
            "native" => Ok(Backend::Native),
            "ort" => Ok(Backend::Ort),
            _ => Err(format!("unknown VAD backend '{text}'; use native or ort")),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Native => "native",
            Backend::Ort => "ort",
        })
    }
}

/// The model rate and window geometry for a ring rate: 8 kHz rings run the
/// 8 kHz model, every other rate is resampled to 16 kHz.
pub fn model_geometry(ring_rate: u32) -> (u32, usize, usize) {
    let model_rate = if ring_rate == 8_000 { 8_000 } else { 16_000 };
    let (window, context) = if model_rate == 16_000 { (512, 64) } else { (256, 32) };
    (model_rate, window, context)
}

/// A streaming Silero VAD.
pub struct SileroVad {
    kernel: Box<dyn SileroKernel>,
    /// Context first, then the window.
    input: Vec<f32>,
    state: Vec<f32>,
    context: usize,
    window: usize,
    /// Model-rate samples waiting for a full window.
    pending: Vec<f32>,
    /// Converts the ring rate to 16 kHz when the model cannot take it directly.
    resampler: Option<Resampler>,
    resampled: Vec<f32>,
    last_probability: f32,
    failed: bool,
}

impl SileroVad {
    /// A streaming VAD for a `ring_rate` ring whose windows `kernel` computes.
    pub fn new(kernel: Box<dyn SileroKernel>, ring_rate: u32) -> Result<SileroVad, EngineError> {
        let (model_rate, window, context) = model_geometry(ring_rate);
        let resampler = match ring_rate == model_rate {
            true => None,
            false => Some(Resampler::new(ring_rate, model_rate, 256)?),
        };
        Ok(SileroVad {
            kernel,
            input: vec![0.0; context + window],
            state: vec![0.0; STATE_LEN],
            context,
            window,
            pending: Vec::with_capacity(window),
            resampler,
            resampled: Vec::with_capacity(4096),
            last_probability: 0.0,
            failed: false,
        })
    }

    /// Forgets everything heard so far.
    fn reset(&mut self) {
        self.input.fill(0.0);
        self.state.fill(0.0);
        self.pending.clear();
    }

    /// Runs the model on the window in `pending`; returns its probability.
    fn infer(&mut self) -> Result<f32, String> {
        let (context, window) = (self.context, self.window);
        self.input[context..].copy_from_slice(&self.pending[..window]);
        self.pending.clear();
        let probability = self.kernel.run(&self.input, &mut self.state);
        // The next call's context is the end of this call's input.
        self.input.copy_within(window.., 0);
        probability
    }

    /// Appends model-rate samples, running the model on every full window.
    fn feed(&mut self, mut samples: &[f32]) {
        while !samples.is_empty() {
            let take = (self.window - self.pending.len()).min(samples.len());
            self.pending.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.pending.len() == self.window {
                match self.infer() {
                    Ok(p) => self.last_probability = p,
                    Err(e) if !self.failed => {
                        log::warning!("Silero VAD inference failed: {e}; keeping the last probability");
                        self.failed = true;
                    }
                    Err(_) => {}
                }
            }
        }
    }
}

impl Vad for SileroVad {
    fn prepare(&mut self) {
        self.kernel.prepare();
    }

    fn probability(&mut self, frame: &VadInput<'_>) -> f32 {
        if frame.discontinuity {
            self.reset();
        }
        match self.resampler.as_mut() {
            None => {
                // Split the borrow: `feed` needs `self` mutably.
                let samples = frame.samples;
                self.feed(samples);
            }
            Some(resampler) => {
                let mut resampled = std::mem::take(&mut self.resampled);
                resampled.clear();
                resampler.push(frame.samples, &mut |s| resampled.extend_from_slice(s));
                self.feed(&resampled);
                self.resampled = resampled;
            }
        }
        self.last_probability
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc_counter;
    use crate::dsp::level;

    fn model() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/silero_vad/silero_vad.onnx")
    }

    #[test]
    fn the_native_vad_allocates_nothing_per_frame() {
        for (rate, frame) in [(16_000u32, 512usize), (8_000, 256), (16_000, 160)] {
            let (model_rate, _, _) = model_geometry(rate);
            let kernel = native::NativeSilero::load(&model(), model_rate)
                .expect("the Silero model (`make models` fetches it)");
            let mut vad = SileroVad::new(Box::new(kernel), rate).unwrap();
            let samples: Vec<f32> = (0..frame).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
            let input = |discontinuity| VadInput {
                samples: &samples,
                level: level::measure(&samples),
                discontinuity,
            };
            vad.probability(&input(false)); // warm up once
            let before = alloc_counter::allocations_on_this_thread();
            for i in 0..2000 {
                vad.prepare();
                let p = vad.probability(&input(i % 500 == 0));
                assert!((0.0..=1.0).contains(&p));
            }
            assert_eq!(alloc_counter::allocations_on_this_thread(), before, "the VAD allocated at {rate} Hz");
        }
    }

    #[test]
    fn warming_the_caches_changes_no_probability() {
        let load = || native::NativeSilero::load(&model(), 16_000).expect("the Silero model");
        let mut plain = SileroVad::new(Box::new(load()), 16_000).unwrap();
        let mut warmed = SileroVad::new(Box::new(load()), 16_000).unwrap();
        for i in 0..50 {
            let samples: Vec<f32> = (0..512).map(|k| ((i * 512 + k) as f32 * 0.031).sin() * 0.2).collect();
            let input = VadInput { samples: &samples, level: level::measure(&samples), discontinuity: false };
            warmed.prepare();
            assert_eq!(plain.probability(&input).to_bits(), warmed.probability(&input).to_bits());
        }
    }
}
