//! Voice-activity detection: a per-frame speech probability, then a speech
//! flag with hysteresis.

pub mod assets;
pub mod energy;
pub mod hysteresis;
pub mod silero;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use v2m_layout::VadKind;

use crate::dsp::level::Level;
use crate::error::EngineError;

/// One frame as the VAD sees it.
pub struct VadInput<'a> {
    /// The frame's mono samples at the ring rate.
    pub samples: &'a [f32],
    /// Its level, already measured for the metadata.
    pub level: Level,
    /// Audio before this frame is missing: reset any running state.
    pub discontinuity: bool,
}

/// A detector that scores frames.
pub trait Vad {
    /// Speech probability of this frame, in [0, 1].
    fn probability(&mut self, frame: &VadInput<'_>) -> f32;

    /// A frame is about to be complete: bring what the next [`Vad::probability`]
    /// reads into the caches now, off that frame's path (after a frame's worth
    /// of idleness they are cold, and reloading them is most of the VAD's time).
    fn prepare(&mut self) {}
}

/// `--vad off`: every frame is non-speech.
pub struct NoVad;

impl Vad for NoVad {
    fn probability(&mut self, _frame: &VadInput<'_>) -> f32 {
        0.0
    }
}

/// Which detector to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VadChoice {
    /// Silero VAD through ONNX Runtime.
    Silero,
    /// RMS against an adaptive noise floor.
    Energy,
    /// No VAD: probability 0, flag false.
    Off,
}

impl VadChoice {
    /// The names `FromStr` accepts, for help texts.
    pub const NAMES: [&'static str; 3] = ["silero", "energy", "off"];

    /// What the header records for this detector.
    pub fn kind(self) -> VadKind {
        match self {
            VadChoice::Silero => VadKind::Silero,
            VadChoice::Energy => VadKind::Energy,
            VadChoice::Off => VadKind::Off,
        }
    }
}

impl FromStr for VadChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<VadChoice, String> {
        match text {
            "silero" => Ok(VadChoice::Silero),
            "energy" => Ok(VadChoice::Energy),
            "off" => Ok(VadChoice::Off),
            _ => Err(format!("unknown VAD '{text}'; use silero, energy or off")),
        }
    }
}

impl fmt::Display for VadChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::NAMES[*self as usize])
    }
}

/// What it takes to build a detector.
#[derive(Clone, Debug, PartialEq)]
pub struct VadSettings {
    /// The detector.
    pub choice: VadChoice,
    /// The Silero model file, if given explicitly.
    pub model: Option<PathBuf>,
    /// The ONNX Runtime library, if given explicitly.
    pub ort_library: Option<PathBuf>,
    /// What runs the Silero model.
    pub backend: silero::Backend,
    /// How the ONNX Runtime session is set up (the default unless benchmarking).
    pub tuning: silero::SessionTuning,
}

/// Builds the chosen detector for `frame_samples`-sample frames at `rate`.
/// Silero loads its model and ONNX Runtime here, so a missing file is
/// reported before any ring exists.
pub fn build(settings: &VadSettings, rate: u32, frame_samples: u32) -> Result<Box<dyn Vad>, EngineError> {
    Ok(match settings.choice {
        VadChoice::Energy => Box::new(energy::EnergyVad::new(rate, frame_samples)),
        VadChoice::Off => Box::new(NoVad),
        VadChoice::Silero => {
            let (model_rate, window, context) = silero::model_geometry(rate);
            let kernel: Box<dyn silero::SileroKernel> = match settings.backend {
                silero::Backend::Native => {
                    let model = assets::locate_model(settings.model.as_deref())?;
                    Box::new(silero::native::NativeSilero::load(&model, model_rate)?)
                }
                silero::Backend::Ort => {
                    let files = assets::locate(settings.model.as_deref(), settings.ort_library.as_deref())?;
                    Box::new(silero::onnx_runtime::OrtKernel::new(
                        &files,
                        model_rate,
                        context + window,
                        settings.tuning,
                    )?)
                }
            };
            Box::new(silero::SileroVad::new(kernel, rate)?)
        }
    })
}
