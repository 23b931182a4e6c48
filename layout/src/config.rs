//! What a ring carries and how its engine was configured: written into the
//! header once by the writer ([`crate::Header::set_config`]) and read back,
//! validated, by readers ([`crate::HeaderInfo::parse`]). One type for both.

use crate::geometry::Geometry;
use crate::protocol::{ORIGIN_ENGINE, ORIGIN_MIRROR, VAD_ENERGY, VAD_OFF, VAD_SILERO};

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
    /// The index of the first frame the writer publishes (0 for an engine).
    pub first_index: u64,
    /// Where the frames come from.
    pub origin: Origin,
}

/// Where a ring's frames come from (layout 1.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// An engine's own source, or a mirror of another ring.
    pub kind: OriginKind,
    /// The source's host (empty for an engine; at most 63 bytes are stored).
    pub host: String,
    /// The source's ring name (empty for an engine; at most 63 bytes).
    pub ring: String,
    /// The key expression the frames travel under (at most 127 bytes).
    pub key: String,
    /// The source ring's generation (0 for an engine).
    pub generation: u64,
}

impl Origin {
    /// Where the frames come from, for people: `engine` or
    /// `mirror of HOST/RING (KEY)` (the Python reader's `HeaderInfo.origin` says the same).
    pub fn describe(&self) -> String {
        match self.kind {
            OriginKind::Engine => "engine".into(),
            OriginKind::Mirror => format!("mirror of {}/{} ({})", self.host, self.ring, self.key),
            OriginKind::Other(code) => format!("origin {code}"),
        }
    }
}

/// `Header::origin_kind`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OriginKind {
    /// The writer captures or replays the audio itself.
    #[default]
    Engine,
    /// The writer receives the frames from another ring.
    Mirror,
    /// A kind a newer minor version added.
    Other(u32),
}

impl OriginKind {
    /// The header's code for this kind.
    pub fn code(self) -> u32 {
        match self {
            OriginKind::Engine => ORIGIN_ENGINE,
            OriginKind::Mirror => ORIGIN_MIRROR,
            OriginKind::Other(code) => code,
        }
    }

    /// The kind a header code names.
    pub fn from_code(code: u32) -> OriginKind {
        match code {
            ORIGIN_ENGINE => OriginKind::Engine,
            ORIGIN_MIRROR => OriginKind::Mirror,
            other => OriginKind::Other(other),
        }
    }
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
    /// The ring channel the VAD listened to; `None`: the average of all of them
    /// (layout 1.4; every older ring is mono).
    pub channel: Option<u32>,
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
