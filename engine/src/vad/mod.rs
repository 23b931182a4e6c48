//! Voice-activity detection: a per-frame speech probability, then a speech
//! flag with hysteresis.

pub mod assets;
pub mod energy;
pub mod hysteresis;
pub mod silero;

use crate::dsp::level::Level;

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
}

/// `--vad off`: every frame is non-speech.
pub struct NoVad;

impl Vad for NoVad {
    fn probability(&mut self, _frame: &VadInput<'_>) -> f32 {
        0.0
    }
}
