//! Where samples come from: files, synthetic signals (and, later, devices).
//!
//! A source delivers interleaved `f32` samples at its own rate and channel
//! count; the DSP stage downmixes and resamples them to the ring's format.

pub mod synth;
pub mod wav;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::EngineError;

/// A `--source` value.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceSpec {
    /// The default capture device.
    Default,
    /// The capture device whose name contains this text.
    Device(String),
    /// A WAV file.
    File(PathBuf),
    /// A sine tone of this frequency in Hz.
    Tone(f64),
    /// White noise.
    Noise,
    /// Digital silence.
    Silence,
}

impl FromStr for SourceSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<SourceSpec, String> {
        let (kind, arg) = match text.split_once(':') {
            Some((kind, arg)) => (kind, Some(arg)),
            None => (text, None),
        };
        match (kind, arg) {
            ("default", None) => Ok(SourceSpec::Default),
            ("noise", None) => Ok(SourceSpec::Noise),
            ("silence", None) => Ok(SourceSpec::Silence),
            ("device", Some(name)) if !name.is_empty() => Ok(SourceSpec::Device(name.into())),
            ("file", Some(path)) if !path.is_empty() => Ok(SourceSpec::File(path.into())),
            ("tone", Some(hz)) => match hz.parse::<f64>() {
                Ok(hz) if hz.is_finite() && hz > 0.0 => Ok(SourceSpec::Tone(hz)),
                _ => Err(format!("tone frequency '{hz}' must be a positive number of Hz, e.g. tone:440")),
            },
            _ => Err(format!(
                "unknown source '{text}'; use default, device:NAME, file:PATH, tone:HZ, noise or silence"
            )),
        }
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Default => write!(f, "default"),
            SourceSpec::Device(name) => write!(f, "device:{name}"),
            SourceSpec::File(path) => write!(f, "file:{}", path.display()),
            SourceSpec::Tone(hz) => write!(f, "tone:{hz}"),
            SourceSpec::Noise => write!(f, "noise"),
            SourceSpec::Silence => write!(f, "silence"),
        }
    }
}

/// What one `read` delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    /// Sample frames (one sample per channel) written to the buffer; 0 means
    /// the source has ended.
    pub frames: usize,
    /// The source started over before the first of these frames (a looped
    /// file): the audio is not continuous with what came before.
    pub restarted: bool,
}

/// A producer of interleaved float samples.
pub trait Source {
    /// Sample rate in Hz.
    fn rate(&self) -> u32;
    /// Interleaved channels.
    fn channels(&self) -> usize;
    /// Fills the start of `out` (a multiple of `channels()` long) with samples.
    fn read(&mut self, out: &mut [f32]) -> Result<Chunk, EngineError>;
}

/// How a file or synthetic source is to be replayed.
#[derive(Clone, Copy, Debug)]
pub struct ReplayOptions {
    /// Start a file over when it ends.
    pub looping: bool,
    /// Stop a synthetic source after this many seconds (None: never).
    pub duration_s: Option<f64>,
}

/// Opens a file or synthetic source; synthetic ones run at `ring_rate`.
pub fn open(
    spec: &SourceSpec,
    ring_rate: u32,
    options: ReplayOptions,
) -> Result<Box<dyn Source>, EngineError> {
    let frames_limit = options
        .duration_s
        .map(|s| (s * f64::from(ring_rate)).round() as u64);
    match spec {
        SourceSpec::File(path) => Ok(Box::new(wav::WavSource::open(path, options.looping)?)),
        SourceSpec::Tone(hz) => {
            if *hz >= f64::from(ring_rate) / 2.0 {
                return Err(EngineError::BadInput(format!(
                    "tone:{hz} is at or above the Nyquist frequency of a {ring_rate} Hz ring; pick a lower tone"
                )));
            }
            Ok(Box::new(synth::Synth::tone(*hz, ring_rate, frames_limit)))
        }
        SourceSpec::Noise => Ok(Box::new(synth::Synth::noise(ring_rate, frames_limit))),
        SourceSpec::Silence => Ok(Box::new(synth::Synth::silence(ring_rate, frames_limit))),
        SourceSpec::Default | SourceSpec::Device(_) => Err(EngineError::BadInput(format!(
            "source '{spec}': live capture is not in this build yet; use file:PATH, tone:HZ, noise or silence"
        ))),
    }
}
