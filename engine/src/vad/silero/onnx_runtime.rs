//! The Silero model run by ONNX Runtime (`ort`, `--vad-backend ort`): the
//! reference the native kernel is checked against, and the way to run model
//! versions the native kernel does not know.

use std::path::Path;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{IoBinding, Session};
use ort::value::Tensor;

use super::SileroKernel;
use crate::error::EngineError;
use crate::vad::assets::SileroFiles;

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
    /// Layout (the engine's choice; see the VAD table in docs/engine.md).
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

/// An ONNX Runtime session of the model, with its tensors.
pub struct OrtKernel {
    session: Session,
    /// The ONNX Runtime environment the session belongs to.
    _environment: Environment,
    /// [1, context + window].
    input: Tensor<f32>,
    state: Tensor<f32>,
    sample_rate: Tensor<i64>,
    /// Inputs and outputs bound once, when tuned so.
    binding: Option<IoBinding>,
}

impl OrtKernel {
    /// Loads ONNX Runtime and the model for `model_rate` windows of
    /// `input_len` samples (context included); one intra-op and one inter-op
    /// thread, the session set up as `tuning` says.
    pub fn new(
        files: &SileroFiles,
        model_rate: u32,
        input_len: usize,
        tuning: SessionTuning,
    ) -> Result<OrtKernel, EngineError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            EngineError::BadInput(format!("--vad silero (--vad-backend ort): {what}: {e}"))
        };
        let environment = ort::init_from(&files.ort_library)
            .map_err(|e| fail(&format!("cannot load {}", files.ort_library.display()), &e))?
            .with_name("v2m")
            .build()
            .map_err(|e| fail("cannot start ONNX Runtime", &e))?;
        let session = build_session(&environment, &files.model, tuning.optimization.ort())
            .map_err(|e| fail(&format!("cannot load {}", files.model.display()), &e))?;
        let tensor_error = |e: ort::Error| fail("cannot create tensors", &e);
        let mut kernel = OrtKernel {
            session,
            _environment: environment,
            input: Tensor::from_array(([1usize, input_len], vec![0.0f32; input_len]))
                .map_err(tensor_error)?,
            state: Tensor::from_array(([2usize, 1, 128], vec![0.0f32; STATE_LEN])).map_err(tensor_error)?,
            sample_rate: Tensor::from_array(((), vec![i64::from(model_rate)])).map_err(tensor_error)?,
            binding: None,
        };
        if tuning.io_binding {
            kernel.binding = Some(kernel.bind().map_err(|e| fail("cannot bind inputs and outputs", &e))?);
        }
        Ok(kernel)
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

    fn infer(&mut self, input: &[f32], state: &mut [f32]) -> Result<f32, ort::Error> {
        self.input.extract_tensor_mut().1.copy_from_slice(input);
        self.state.extract_tensor_mut().1.copy_from_slice(state);
        let outputs = match &self.binding {
            Some(binding) => self.session.run_binding(binding)?,
            None => self.session.run(ort::inputs![
                "input" => &self.input,
                "state" => &self.state,
                "sr" => &self.sample_rate,
            ])?,
        };
        let probability = outputs["output"].try_extract_tensor::<f32>()?.1[0];
        state.copy_from_slice(&outputs["stateN"].try_extract_tensor::<f32>()?.1[..STATE_LEN]);
        Ok(probability)
    }
}

impl SileroKernel for OrtKernel {
    fn run(&mut self, input: &[f32], state: &mut [f32]) -> Result<f32, String> {
        self.infer(input, state).map_err(|e| e.to_string())
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
