//! What a ring carries and how its engine was configured: written into the
//! header once by the writer ([`crate::Header::set_config`]) and read back,
//! validated, by readers ([`crate::HeaderInfo::parse`]). One type for both.

use crate::geometry::Geometry;
use crate::protocol::{VAD_ENERGY, VAD_OFF, VAD_SILERO};

/// The ring's format and the engine configuration its header records.
#[derive(Clone, Debug, PartialEq)]
pub struct RingConfig {
    /// Format and section offsets.
    pub geometry: Geometry,
    /// How the VAD fields of every frame were made.
    pub vad: VadConfig,
    /// Replay speed of a file or synthetic source in × real time; 0 means as
    /// fast as possible; 1 for live capture.
    pub source_speed: f32,
    /// The `--source` text (at most 127 bytes are stored).
    pub source: String,
}

/// The VAD configuration recorded in the header.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VadConfig {
    /// Which detector made the probabilities.
    pub kind: VadKind,
    /// Probability at which speech starts.
    pub threshold: f32,
    /// Probability below which speech may end.
    pub neg_threshold: f32,
    /// Milliseconds below `neg_threshold` before the speech flag drops.
    pub min_silence_ms: u32,
}

/// `Header::vad_kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VadKind {
    /// No VAD: probability 0, flag false.
    Off,
    /// RMS against an adaptive noise floor.
    Energy,
    /// Silero VAD.
    Silero,
    /// A detector a newer minor version added; readers treat its
    /// probabilities like any other.
    Other(u32),
}

impl VadKind {
    /// The header's code for this kind.
    ///
    /// ```
    /// use v2m_layout::VadKind;
    /// assert_eq!(VadKind::from_code(VadKind::Silero.code()), VadKind::Silero);
    /// ```
    pub fn code(self) -> u32 {
        match self {
            VadKind::Off => VAD_OFF,
            VadKind::Energy => VAD_ENERGY,
            VadKind::Silero => VAD_SILERO,
            VadKind::Other(code) => code,
        }
    }

    /// The kind a header code names.
    pub fn from_code(code: u32) -> VadKind {
        match code {
            VAD_OFF => VadKind::Off,
            VAD_ENERGY => VadKind::Energy,
            VAD_SILERO => VadKind::Silero,
            other => VadKind::Other(other),
        }
    }

    /// Lower-case name, as `status` prints it.
    pub fn name(self) -> String {
        match self {
            VadKind::Off => "off".into(),
            VadKind::Energy => "energy".into(),
            VadKind::Silero => "silero".into(),
            VadKind::Other(code) => format!("kind {code}"),
        }
    }
}
