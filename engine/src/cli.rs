//! The command line: `run`, `devices`, `status` (the contract in DESIGN.md).

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::shm::RingName;
use crate::source::SourceSpec;

/// v2m-engine: captures audio, runs voice-activity detection and publishes
/// every frame into a lock-free shared-memory ring for Python readers.
#[derive(Parser, Debug)]
#[command(name = "v2m-engine", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Capture or replay audio into the ring /dev/shm/v2m-NAME until the source
    /// ends or SIGINT/SIGTERM arrives.
    Run(RunArgs),
    /// List capture devices, one a line.
    Devices {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a ring's header, liveness and statistics (works on dead rings too).
    Status {
        /// Ring name.
        #[arg(long, default_value = "default", value_parser = RingName::parse)]
        name: RingName,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the shared-memory layout's field offsets as JSON (for conformance tests).
    #[command(hide = true)]
    Layout,
    /// Time a VAD over a file's frames, without a ring (for bench/vad.py).
    #[command(hide = true)]
    BenchVad(crate::bench_vad::BenchVadArgs),
}

/// Options of `run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Ring name: the segment is /dev/shm/v2m-NAME.
    #[arg(long, default_value = "default", value_parser = RingName::parse)]
    pub name: RingName,
    /// default | device:SUBSTRING | file:PATH (WAV) | tone:HZ | noise | silence
    #[arg(long, default_value = "default")]
    pub source: SourceSpec,
    /// Ring sample rate in Hz.
    #[arg(long, default_value_t = 16_000, value_parser = parse_rate)]
    pub rate: u32,
    /// Samples per frame.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub frame: u32,
    /// Slots in the ring (a power of two, 2..=1048576).
    #[arg(long, default_value_t = 2048, value_parser = parse_slots)]
    pub slots: u32,
    /// Voice-activity detector.
    #[arg(long, value_enum, default_value_t = VadChoice::Silero)]
    pub vad: VadChoice,
    /// Silero ONNX model [default: $V2M_VAD_MODEL, then the project's models/silero_vad/].
    #[arg(long)]
    pub vad_model: Option<std::path::PathBuf>,
    /// ONNX Runtime library libonnxruntime.so.1.31.1 [default: $ORT_DYLIB_PATH, then the project's .venv].
    #[arg(long)]
    pub ort_lib: Option<std::path::PathBuf>,
    /// Probability at which speech starts.
    #[arg(long, default_value_t = 0.5, value_parser = parse_probability)]
    pub vad_threshold: f32,
    /// Probability below which speech may end [default: threshold − 0.15].
    #[arg(long, value_parser = parse_probability)]
    pub vad_neg_threshold: Option<f32>,
    /// Milliseconds below the end threshold before the speech flag drops.
    #[arg(long, default_value_t = 100)]
    pub vad_min_silence_ms: u32,
    /// Replay speed of file and synthetic sources: realtime, max, or a factor.
    #[arg(long, default_value = "realtime", value_parser = parse_speed)]
    pub speed: Speed,
    /// Start a file source over when it ends.
    #[arg(long = "loop")]
    pub looping: bool,
    /// Stop after this many seconds of source audio (any source).
    #[arg(long, value_parser = parse_seconds)]
    pub duration: Option<f64>,
    /// Ask the capture device for this rate instead of --rate (the engine resamples).
    #[arg(long, value_parser = parse_rate)]
    pub device_rate: Option<u32>,
    /// Ask the capture device for this many channels instead of mono (the engine downmixes).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub device_channels: Option<u16>,
    /// Audio per capture device buffer, in ms (smaller: less latency, more
    /// wake-ups; 0: the driver's default). 5 ms also keeps cpal's ALSA thread from
    /// spinning on PulseAudio's ALSA plugin, which it does with 10 ms and more.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub device_buffer_ms: u32,
    /// Audio held between the capture callback and the DSP thread, in ms.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(10..=600_000))]
    pub capture_buffer_ms: u32,
    /// Seconds a finished ring stays readable before it is removed.
    #[arg(long, default_value_t = 2.0, value_parser = parse_seconds)]
    pub linger: f64,
    /// Create the segment with mode 0640 instead of 0600.
    #[arg(long)]
    pub group_readable: bool,
    /// Exit cleanly (as on SIGTERM) when the parent process dies (PR_SET_PDEATHSIG);
    /// `v2m.spawn` passes it so a crashed app never leaves an engine holding the microphone.
    #[arg(long)]
    pub die_with_parent: bool,
}

/// `--vad` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VadChoice {
    /// Silero VAD through ONNX Runtime.
    Silero,
    /// RMS against an adaptive noise floor.
    Energy,
    /// No VAD: probability 0, flag false.
    Off,
}

/// `--speed`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// As fast as the engine can go.
    Max,
    /// This many times real time (1.0 is real time).
    Factor(f64),
}

fn parse_rate(text: &str) -> Result<u32, String> {
    let range = v2m_layout::RATE_RANGE;
    match text.parse::<u32>() {
        Ok(rate) if range.contains(&rate) => Ok(rate),
        _ => Err(format!("sample rate must be a whole number of Hz in {}..={}", range.start(), range.end())),
    }
}

fn parse_slots(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if n.is_power_of_two() && (2..=v2m_layout::MAX_SLOTS).contains(&n) => Ok(n),
        Ok(n) => Err(format!(
            "{n} is not a power of two in 2..={}; try {}",
            v2m_layout::MAX_SLOTS,
            n.clamp(2, v2m_layout::MAX_SLOTS).next_power_of_two()
        )),
        Err(_) => Err("slot count must be a whole number, a power of two".into()),
    }
}

fn parse_probability(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err("a probability between 0 and 1 is needed".into()),
    }
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err("a non-negative number of seconds is needed".into()),
    }
}

fn parse_speed(text: &str) -> Result<Speed, String> {
    match text {
        "realtime" => Ok(Speed::Factor(1.0)),
        "max" => Ok(Speed::Max),
        _ => match text.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err("speed must be realtime, max, or a positive factor such as 4".into()),
        },
    }
}
