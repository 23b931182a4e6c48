//! Silero VAD through ONNX Runtime (`ort`), run on the DSP thread.
//!
//! Streaming use of the model, exactly as Silero's own `OnnxWrapper` does it:
//! every call gets a window of 512 samples at 16 kHz (256 at 8 kHz) with the
//! previous call's last 64 (32) samples prepended as context, plus the
//! recurrent `state` [2, 1, 128] the previous call returned, and `sr`. A
//! discontinuity resets context and state to zeros. Rings at other rates feed
//! the model through the resampler at 16 kHz; ring frames that are not one
//! window long are re-cut into windows, and a frame's probability is that of
//! the last window completed in it.

use std::path::Path;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{IoBinding, Session};
use ort::value::Tensor;

use super::assets::SileroFiles;
use super::{Vad, VadInput};
use crate::dsp::resample::Resampler;
use crate::error::EngineError;
use crate::log;

/// Recurrent state shape: [2, batch 1, 128].
const STATE_LEN: usize = 2 * 128;

/// How the session is set up: the defaults are what the engine uses; the
/// others exist so `v2m-engine bench-vad` can measure the alternatives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionTuning {
    /// ONNX Runtime graph optimisation level.
    pub optimization: GraphOptimization,
    /// Bind inputs and outputs once (IoBinding) instead of passing them per run.
    pub io_binding: bool,
}

/// ONNX Runtime's graph optimisation levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GraphOptimization {
    /// None.
    Disable,
    /// Basic.
    Level1,
    /// Extended.
    Level2,
    /// Layout (the engine's choice; see the README's VAD table).
    #[default]
    Level3,
    /// All.
    All,
}

impl GraphOptimization {
    /// The names `FromStr` accepts.
    pub const NAMES: [&'static str; 5] = ["disable", "level1", "level2", "level3", "all"];

    fn ort(self) -> GraphOptimizationLevel {
        match self {
            GraphOptimization::Disable => GraphOptimizationLevel::Disable,
            GraphOptimization::Level1 => GraphOptimizationLevel::Level1,
            GraphOptimization::Level2 => GraphOptimizationLevel::Level2,
            GraphOptimization::Level3 => GraphOptimizationLevel::Level3,
            GraphOptimization::All => GraphOptimizationLevel::All,
        }
    }
}

impl std::str::FromStr for GraphOptimization {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let levels = [Self::Disable, Self::Level1, Self::Level2, Self::Level3, Self::All];
        Self::NAMES
            .iter()
            .position(|&name| name == text)
            .map(|i| levels[i])
            .ok_or_else(|| format!("unknown optimisation level '{text}'; use {}", Self::NAMES.join(", ")))
    }
}

/// A streaming Silero VAD session.
pub struct SileroVad {
    session: Session,
    /// The ONNX Runtime environment the session belongs to.
    _environment: Environment,
    /// [1, context + window]: context first, then the window.
    input: Tensor<f32>,
    state: Tensor<f32>,
    sample_rate: Tensor<i64>,
    context: usize,
    window: usize,
    /// Model-rate samples waiting for a full window.
    pending: Vec<f32>,
    /// Converts the ring rate to 16 kHz when the model cannot take it directly.
    resampler: Option<Resampler>,
    resampled: Vec<f32>,
    last_probability: f32,
    failed: bool,
    /// Inputs and outputs bound once, when tuned so.
    binding: Option<IoBinding>,
}

impl SileroVad {
    /// Loads ONNX Runtime and the model for a `ring_rate` ring; one intra-op
    /// and one inter-op thread, the session set up as `tuning` says.
    pub fn new(files: &SileroFiles, ring_rate: u32, tuning: SessionTuning) -> Result<SileroVad, EngineError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            EngineError::BadInput(format!("--vad silero: {what}: {e}"))
        };
        let environment = ort::init_from(&files.ort_library)
            .map_err(|e| fail(&format!("cannot load {}", files.ort_library.display()), &e))?
            .with_name("v2m")
            .build()
            .map_err(|e| fail("cannot start ONNX Runtime", &e))?;
        let session = build_session(&environment, &files.model, tuning.optimization.ort())
            .map_err(|e| fail(&format!("cannot load {}", files.model.display()), &e))?;
        let model_rate = if ring_rate == 8_000 { 8_000 } else { 16_000 };
        let (window, context) = if model_rate == 16_000 { (512, 64) } else { (256, 32) };
        let resampler = match ring_rate == model_rate {
            true => None,
            false => Some(Resampler::new(ring_rate, model_rate, 256)?),
        };
        let tensor_error = |e: ort::Error| fail("cannot create tensors", &e);
        let mut vad = SileroVad {
            session,
            _environment: environment,
            input: Tensor::from_array(([1usize, context + window], vec![0.0f32; context + window]))
                .map_err(tensor_error)?,
            state: Tensor::from_array(([2usize, 1, 128], vec![0.0f32; STATE_LEN])).map_err(tensor_error)?,
            sample_rate: Tensor::from_array(((), vec![i64::from(model_rate)])).map_err(tensor_error)?,
            context,
            window,
            pending: Vec::with_capacity(window),
            resampler,
            resampled: Vec::with_capacity(4096),
            last_probability: 0.0,
            failed: false,
            binding: None,
        };
        if tuning.io_binding {
            vad.binding = Some(vad.bind().map_err(|e| fail("cannot bind inputs and outputs", &e))?);
        }
        Ok(vad)
    }

    fn bind(&self) -> Result<IoBinding, ort::Error> {
        let mut binding = self.session.create_binding()?;
        binding.bind_input("input", &self.input)?;
        binding.bind_input("state", &self.state)?;
        binding.bind_input("sr", &self.sample_rate)?;
        binding.bind_output("output", Tensor::<f32>::new(self.session.allocator(), [1usize, 1])?)?;
        binding.bind_output("stateN", Tensor::<f32>::new(self.session.allocator(), [2usize, 1, 128])?)?;
        Ok(binding)
    }

    /// Forgets everything heard so far.
    fn reset(&mut self) {
        self.input.extract_tensor_mut().1.fill(0.0);
        self.state.extract_tensor_mut().1.fill(0.0);
        self.pending.clear();
    }

    /// Runs the model on the window in `pending`; returns its probability.
    fn infer(&mut self) -> Result<f32, ort::Error> {
        let (context, window) = (self.context, self.window);
        {
            let input = self.input.extract_tensor_mut().1;
            input[context..].copy_from_slice(&self.pending[..window]);
        }
        self.pending.clear();
        let outputs = match &self.binding {
            Some(binding) => self.session.run_binding(binding)?,
            None => self.session.run(ort::inputs![
                "input" => &self.input,
                "state" => &self.state,
                "sr" => &self.sample_rate,
            ])?,
        };
        let probability = outputs["output"].try_extract_tensor::<f32>()?.1[0];
        let next_state = outputs["stateN"].try_extract_tensor::<f32>()?.1;
        self.state.extract_tensor_mut().1.copy_from_slice(&next_state[..STATE_LEN]);
        drop(outputs);
        // The next call's context is the end of this call's input.
        let input = self.input.extract_tensor_mut().1;
        input.copy_within(window.., 0);
        Ok(probability)
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

fn build_session(
    environment: &Environment,
    model: &Path,
    optimization: GraphOptimizationLevel,
) -> Result<Session, ort::Error> {
    let mut builder = Session::builder(environment)?
        .with_optimization_level(optimization)
        .map_err(ort::Error::<()>::from)?
        .with_intra_threads(1)
        .map_err(ort::Error::<()>::from)?
        .with_inter_threads(1)
        .map_err(ort::Error::<()>::from)?;
    builder.commit_from_file(model)
}

impl Vad for SileroVad {
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
