//! Where samples come from: capture devices, files, synthetic signals.
//!
//! A source delivers interleaved `f32` samples at its own rate and channel
//! count; the DSP stage downmixes and resamples them to the ring's format.

pub mod capture;
pub mod synth;
pub mod wav;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::error::EngineError;
use capture::{CaptureOptions, CaptureSource};

/// A `--source` value.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceSpec {
    /// The default capture device.
    Default,
    /// The capture device whose name contains this text.
    Device(String),
    /// A WAV file (`file:PATH`, or a bare path).
    File(PathBuf),
    /// A sine tone of this frequency in Hz.
    Tone(f64),
    /// White noise.
    Noise,
    /// Digital silence.
    Silence,
    /// A test signal in which every sample encodes its position: sample `n`
    /// is `(n mod 2^24) / 2^24`, exact in float32 (for checking readers).
    Counter,
}

impl SourceSpec {
    /// A capture device (its own clock and timestamps), rather than a replayed source.
    pub fn is_live(&self) -> bool {
        matches!(self, SourceSpec::Default | SourceSpec::Device(_))
    }
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
            ("counter", None) => Ok(SourceSpec::Counter),
            ("device", Some(name)) if !name.is_empty() => Ok(SourceSpec::Device(name.into())),
            ("file", Some(path)) if !path.is_empty() => Ok(SourceSpec::File(path.into())),
            ("tone", Some(hz)) => match hz.parse::<f64>() {
                Ok(hz) if hz.is_finite() && hz > 0.0 => Ok(SourceSpec::Tone(hz)),
                _ => Err(format!("tone frequency '{hz}' must be a positive number of Hz, e.g. tone:440")),
            },
            // A bare path is a file source: opening it says what is wrong with it.
            _ if looks_like_path(text) => Ok(SourceSpec::File(text.into())),
            _ => Err(format!(
                "unknown source '{text}'; use default, device:NAME, file:PATH (or a path to a WAV \
                 file), tone:HZ, noise, silence or counter"
            )),
        }
    }
}

/// Whether a `--source` without a known `kind:` is meant as a file: it names
/// something that exists, has a directory part, or ends in `.wav`.
fn looks_like_path(text: &str) -> bool {
    let path = std::path::Path::new(text);
    text.contains('/')
        || path.exists()
        || path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("wav") || ext.eq_ignore_ascii_case("wave"))
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
            SourceSpec::Counter => write!(f, "counter"),
        }
    }
}

/// What one `read` delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    /// Sample frames (one sample per channel) written to the buffer; 0 means
    /// the source has ended (or, for a live source, that the engine is stopping).
    pub frames: usize,
    /// The source started over before the first of these frames (a looped
    /// file, a reopened device): the audio is not continuous with what came before.
    pub restarted: bool,
    /// Sample frames lost just before these (a full in-process queue).
    pub lost_frames: u64,
    /// Device overruns reported since the previous chunk.
    pub overruns: u64,
    /// CLOCK_MONOTONIC ns of the first frame's capture, for live sources.
    pub capture_ns: Option<u64>,
}

/// A producer of interleaved float samples (`Send`, so a stuck device can be
/// dropped off the DSP thread).
pub trait Source: Send {
    /// Sample rate in Hz.
    fn rate(&self) -> u32;
    /// Interleaved channels.
    fn channels(&self) -> usize;
    /// Fills the start of `out` (a multiple of `channels()` long) with samples.
    fn read(&mut self, out: &mut [f32]) -> Result<Chunk, EngineError>;
    /// A live source sets its own pace and timestamps; others are paced by the engine.
    fn is_live(&self) -> bool {
        false
    }
    /// When the sample frame at `position` (counted from the first `read`)
    /// reached the engine, if the source knows (a device does).
    fn arrival_ns(&self, _position: u64) -> Option<u64> {
        None
    }
    /// What the capture callback's thread got when it asked for real-time
    /// priority (a device, once its first buffer arrived).
    fn callback_priority(&self) -> Option<crate::priority::Outcome> {
        None
    }
}

/// How to open a source.
#[derive(Clone, Copy, Debug, Default)]
pub struct SourceOptions {
    /// Start a file over when it ends.
    pub looping: bool,
    /// How to open a capture device.
    pub capture: CaptureOptions,
}

/// Opens any source; synthetic ones run at `ring_rate`. `stop` lets a live
/// source stop waiting for the device.
pub fn open(
    spec: &SourceSpec,
    ring_rate: u32,
    options: SourceOptions,
    stop: Arc<AtomicBool>,
) -> Result<Box<dyn Source>, EngineError> {
    match spec {
        SourceSpec::File(path) => Ok(Box::new(wav::WavSource::open(path, options.looping)?)),
        SourceSpec::Tone(hz) => {
            if *hz >= f64::from(ring_rate) / 2.0 {
                return Err(EngineError::BadInput(format!(
                    "tone:{hz} is at or above the Nyquist frequency of a {ring_rate} Hz ring; pick a lower tone"
                )));
            }
            Ok(Box::new(synth::Synth::tone(*hz, ring_rate)))
        }
        SourceSpec::Noise => Ok(Box::new(synth::Synth::noise(ring_rate))),
        SourceSpec::Silence => Ok(Box::new(synth::Synth::silence(ring_rate))),
        SourceSpec::Counter => Ok(Box::new(synth::Synth::counter(ring_rate))),
        SourceSpec::Default | SourceSpec::Device(_) => {
            Ok(Box::new(CaptureSource::open(spec, ring_rate, options.capture, stop)?))
        }
    }
}
