//! The command line: flags parsed into the domain's own value types and
//! checked, then handed to `commands` as plain configuration. The CLI knows
//! the domain; nothing in the domain knows the CLI.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub mod reference;
use v2m_layout::{Geometry, Origin, RingConfig, VadConfig};

use crate::commands::bench_dsp::BenchDspConfig;
use crate::commands::bench_vad::BenchVadConfig;
use crate::commands::run::RunConfig;
use crate::dsp::channels::{ChannelRequest, VadChannel};
use crate::error::EngineError;
use crate::log::Level;
use crate::pacing::Speed;
use crate::priority::PriorityChoice;
use crate::source::capture::host_choice::HostChoice;
use crate::source::capture::{CaptureOptions, DEFAULT_BUFFER_MS};
use crate::source::{SourceOptions, SourceSpec};
use crate::vad::hysteresis::neg_threshold_for;
use crate::vad::silero::{Backend, GraphOptimization, SessionTuning};
use crate::vad::{VadChoice, VadSettings};
use v2m_ring::shm::RingName;

/// v2m-engine: captures audio, runs voice-activity detection and publishes
/// every frame into a lock-free shared-memory ring for Python readers.
#[derive(Parser, Debug)]
#[command(name = "v2m-engine", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Say only what went wrong (errors).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more (debug messages).
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

impl Cli {
    /// The log level the flags ask for.
    pub fn log_level(&self) -> Level {
        match (self.quiet, self.verbose) {
            (true, _) => Level::Error,
            (_, true) => Level::Debug,
            _ => Level::Info,
        }
    }
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Capture or replay audio into the ring /dev/shm/v2m-NAME until the source
    /// ends or SIGINT/SIGTERM/SIGHUP arrives.
    Run(RunArgs),
    /// List capture devices, one a line.
    Devices {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Audio system to list: auto (the one `run` would use), alsa, pulseaudio or pipewire.
        #[arg(long, default_value = "auto", value_parser = HostChoice::from_str)]
        host: HostChoice,
    },
    /// List every ring on this machine with its state (running, closed, stale), and
    /// what dead engines left behind.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// First remove this user's stale rings and unfinished segments of dead engines.
        #[arg(long)]
        clean: bool,
    },
    /// Print a ring's header, liveness and statistics (works on dead rings too).
    Status {
        /// Ring name.
        #[arg(long, default_value = "default", value_parser = RingName::parse)]
        name: RingName,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Refresh until Ctrl-C (a missing ring is waited for).
        #[arg(long)]
        watch: bool,
        /// Seconds between refreshes with --watch.
        #[arg(long, default_value_t = 1.0, value_parser = parse_interval_s)]
        interval: f64,
    },
    /// Print the shared-memory layout's field offsets as JSON (for conformance tests).
    #[command(hide = true)]
    Layout,
    /// Time a VAD over a file's frames, without a ring (for bench/vad.py).
    #[command(hide = true)]
    BenchVad(BenchVadArgs),
    /// Time the DSP chain of a live N-channel source, without a device or a ring
    /// (for bench/channels_cost.py).
    #[command(hide = true)]
    BenchDsp(BenchDspArgs),
    /// Validate a corpus of headers from stdin (for the validator agreement test).
    #[command(hide = true)]
    CheckHeaders,
    /// Print every subcommand's flags as JSON, from these definitions (for the tests
    /// that keep the Python options and the CLI reference in step with them).
    #[command(hide = true)]
    Flags,
}

/// Options of `run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Ring name: the segment is /dev/shm/v2m-NAME.
    #[arg(long, default_value = "default", value_parser = RingName::parse)]
    pub name: RingName,
    /// default | device:SUBSTRING | file:PATH (WAV) | tone:HZ | noise | silence | counter
    #[arg(long, default_value = "default")]
    pub source: SourceSpec,
    /// Ring sample rate in Hz.
    #[arg(long, default_value_t = 16_000, value_parser = parse_rate)]
    pub rate: u32,
    /// Samples per frame.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=i64::from(v2m_layout::MAX_FRAME_SAMPLES)))]
    pub frame: u32,
    /// Slots in the ring (a power of two, 2..=1048576).
    #[arg(long, default_value_t = 2048, value_parser = parse_slots)]
    pub slots: u32,
    /// Voice-activity detector: silero | energy | off.
    #[arg(long, default_value = "silero", value_parser = VadChoice::from_str)]
    pub vad: VadChoice,
    /// Silero ONNX model [default: $V2M_VAD_MODEL, then the project's models/silero_vad/].
    #[arg(long)]
    pub vad_model: Option<PathBuf>,
    /// What runs the Silero model: native (the model's arithmetic in the engine, weights
    /// read from the .onnx file; needs no ONNX Runtime) or ort (ONNX Runtime: the
    /// reference, and the way to run a model version the native kernel does not know).
    #[arg(long, default_value = "native", value_parser = Backend::from_str)]
    pub vad_backend: Backend,
    /// ONNX Runtime library libonnxruntime.so.1.31.1 [default: $ORT_DYLIB_PATH, then the project's .venv].
    #[arg(long)]
    pub ort_lib: Option<PathBuf>,
    /// Probability at which speech starts.
    #[arg(long, default_value_t = 0.5, value_parser = parse_probability)]
    pub vad_threshold: f32,
    /// Probability below which speech may end [default: threshold − 0.15].
    #[arg(long, value_parser = parse_probability)]
    pub vad_neg_threshold: Option<f32>,
    /// Milliseconds below the end threshold before the speech flag drops.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=60_000))]
    pub vad_min_silence_ms: u32,
    /// Replay speed of file and synthetic sources: realtime, max, or a factor (0.01 to 1000).
    #[arg(long, default_value = "realtime", value_parser = Speed::from_str)]
    pub speed: Speed,
    /// Start a file source over when it ends.
    #[arg(long = "loop")]
    pub looping: bool,
    /// Stop after this many seconds of source audio (any source).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<f64>,
    /// Ask the capture device for this rate instead of --rate (the engine resamples).
    #[arg(long, value_parser = parse_rate)]
    pub device_rate: Option<u32>,
    /// Ask the capture device for this many channels instead of mono (the engine downmixes,
    /// or keeps those --channels and --channel-map ask for).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub device_channels: Option<u16>,
    /// Channels kept in the ring: 1 (every source channel mixed to mono), N (the source's
    /// first N, each as it came) or all [default: 1, or as many as --channel-map names].
    #[arg(long, value_parser = parse_channels)]
    pub channels: Option<ChannelCount>,
    /// Source channels kept in the ring, in this order, e.g. 0,2,3 (counted from 0).
    #[arg(long, value_parser = parse_channel_map)]
    pub channel_map: Option<ChannelMap>,
    /// What the VAD listens to in a multi-channel ring: mix (the average of the ring's
    /// channels) or one ring channel K (counted from 0).
    #[arg(long, default_value = "mix", value_parser = parse_vad_channel)]
    pub vad_channel: VadChannel,
    /// Audio system capture devices are opened through: alsa (ALSA, and through its
    /// plugins PulseAudio or PipeWire as `device:pulse`), pulseaudio or pipewire
    /// (natively; pipewire needs an engine built with the `pipewire` feature), or
    /// auto: alsa, unless a PipeWire server runs (then pipewire, else pulseaudio),
    /// because cpal's ALSA thread spins on PipeWire's ALSA plugins.
    #[arg(long, default_value = "auto", value_parser = HostChoice::from_str)]
    pub host: HostChoice,
    /// Audio per capture device buffer, in ms (smaller: less latency, more
    /// wake-ups; 0: the driver's default) [default: 5, through PipeWire 20].
    /// Longer buffers make cpal's ALSA thread spin on PulseAudio's ALSA plugin;
    /// through PipeWire, short ones lose audio when the cores are saturated.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub device_buffer_ms: Option<u32>,
    /// A capture device that is not there yet (a USB microphone not plugged in, a
    /// sound server not started) is waited for, with the ring already open, instead of
    /// being an error. The device is then opened at --device-rate and --device-channels
    /// (the ring's rate and mono, or the channels --channels asks for, when not given).
    #[arg(long)]
    pub wait_for_device: bool,
    /// Audio held between the capture callback and the DSP thread, in ms.
    #[arg(long, default_value_t = DEFAULT_BUFFER_MS, value_parser = clap::value_parser!(u32).range(10..=600_000))]
    pub capture_buffer_ms: u32,
    /// Seconds a finished ring stays readable before it is removed (0 to 3600).
    #[arg(long, default_value_t = 2.0, value_parser = parse_linger)]
    pub linger: f64,
    /// Create the segment with mode 0640 instead of 0600.
    #[arg(long)]
    pub group_readable: bool,
    /// Replay a file or synthetic source only as fast as the readers that ask to hold
    /// it back (`v2m.Reader(..., pace=True)`) read it: nothing they need is overwritten.
    #[arg(long)]
    pub pace_to_readers: bool,
    /// Scheduling of the capture callback and DSP threads: realtime (SCHED_FIFO where
    /// permitted, else nice -10, else unchanged; one log line says which) or normal.
    /// Replays at --speed max always run at normal priority.
    #[arg(long, default_value = "realtime", value_parser = PriorityChoice::from_str)]
    pub priority: PriorityChoice,
    /// Exit cleanly (as on SIGTERM) when the parent process dies (PR_SET_PDEATHSIG);
    /// `v2m.spawn` passes it so a crashed app never leaves an engine holding the microphone.
    #[arg(long)]
    pub die_with_parent: bool,
}

impl RunArgs {
    /// The checked configuration `run` works from.
    pub fn config(&self) -> Result<RunConfig, EngineError> {
        let geometry = Geometry::new(self.rate, 1, self.frame, self.slots)
            .map_err(|e| EngineError::BadInput(e.to_string()))?;
        if self.pace_to_readers && self.source.is_live() {
            return Err(EngineError::BadInput(format!(
                "--pace-to-readers holds back a file or synthetic source; a capture device ({}) cannot wait for readers",
                self.source
            )));
        }
        let channels = self.channel_request()?;
        if self.wait_for_device && !self.source.is_live() {
            return Err(EngineError::BadInput(format!(
                "--wait-for-device waits for a capture device; {} is not one (use default or device:NAME)",
                self.source
            )));
        }
        let neg_threshold = self.vad_neg_threshold.unwrap_or_else(|| neg_threshold_for(self.vad_threshold));
        if neg_threshold > self.vad_threshold {
            return Err(EngineError::BadInput(format!(
                "--vad-neg-threshold {neg_threshold} is above --vad-threshold {}; it must be at or below it",
                self.vad_threshold
            )));
        }
        Ok(RunConfig {
            name: self.name.clone(),
            source: self.source.clone(),
            source_options: SourceOptions {
                looping: self.looping,
                capture: CaptureOptions {
                    device_rate: self.device_rate,
                    device_channels: self.device_channels,
                    buffer_ms: self.capture_buffer_ms,
                    period_ms: self.device_buffer_ms,
                    realtime: self.priority == PriorityChoice::Realtime,
                    host: self.host,
                    wait_for_device: self.wait_for_device,
                },
            },
            speed: self.speed,
            duration: self.duration.map(Duration::from_secs_f64),
            linger: Duration::from_secs_f64(self.linger),
            ring: RingConfig {
                geometry,
                vad: VadConfig {
                    kind: self.vad.kind(),
                    threshold: self.vad_threshold,
                    neg_threshold,
                    min_silence_ms: self.vad_min_silence_ms,
                    channel: None, // known once the source is open (run)
                },
                source_speed: if self.source.is_live() { 1.0 } else { self.speed.header_value() },
                source: self.source.to_string(),
                first_index: 0,
                origin: Origin::default(), // the engine's own source
            },
            group_readable: self.group_readable,
            vad: VadSettings {
                choice: self.vad,
                model: self.vad_model.clone(),
                ort_library: self.ort_lib.clone(),
                backend: self.vad_backend,
                tuning: SessionTuning::default(),
            },
            pace_to_readers: self.pace_to_readers,
            priority: self.priority,
            channels,
            vad_channel: self.vad_channel,
        })
    }
}

/// Options of `bench-vad`.
#[derive(Args, Debug)]
pub struct BenchVadArgs {
    /// A file:PATH source.
    #[arg(long)]
    pub source: SourceSpec,
    /// Ring sample rate.
    #[arg(long, default_value_t = 16_000, value_parser = parse_rate)]
    pub rate: u32,
    /// Samples per frame.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=i64::from(v2m_layout::MAX_FRAME_SAMPLES)))]
    pub frame: u32,
    /// Detector: silero | energy | off.
    #[arg(long, default_value = "silero", value_parser = VadChoice::from_str)]
    pub vad: VadChoice,
    /// Silero model file.
    #[arg(long)]
    pub vad_model: Option<PathBuf>,
    /// ONNX Runtime library.
    #[arg(long)]
    pub ort_lib: Option<PathBuf>,
    /// What runs the Silero model: native | ort.
    #[arg(long, default_value = "native", value_parser = Backend::from_str)]
    pub vad_backend: Backend,
    /// Graph optimisation level (ort): disable | level1 | level2 | level3 | all.
    #[arg(long, default_value = "level3", value_parser = GraphOptimization::from_str)]
    pub opt_level: GraphOptimization,
    /// Use IoBinding.
    #[arg(long)]
    pub io_binding: bool,
    /// Sleep this long before each frame (not timed), e.g. 32 to see the cost at
    /// real-time cadence, where caches are cold; 0: back to back.
    #[arg(long, default_value_t = 0.0, value_parser = parse_interval_ms)]
    pub interval_ms: f64,
    /// With --interval-ms: do not let the VAD warm its caches before each frame
    /// (the engine does for live sources).
    #[arg(long)]
    pub no_prepare: bool,
}

impl BenchVadArgs {
    /// The checked configuration `bench-vad` works from.
    pub fn config(&self) -> BenchVadConfig {
        BenchVadConfig {
            source: self.source.clone(),
            rate: self.rate,
            frame: self.frame,
            vad: VadSettings {
                choice: self.vad,
                model: self.vad_model.clone(),
                ort_library: self.ort_lib.clone(),
                backend: self.vad_backend,
                tuning: SessionTuning { optimization: self.opt_level, io_binding: self.io_binding },
            },
            interval: Duration::from_secs_f64(self.interval_ms / 1000.0),
            prepare: !self.no_prepare,
        }
    }
}

/// Options of `bench-dsp`.
#[derive(Args, Debug)]
pub struct BenchDspArgs {
    /// Channels the device delivers and the ring keeps.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(v2m_layout::MAX_CHANNELS)))]
    pub channels: u32,
    /// The device's rate in Hz.
    #[arg(long, default_value_t = 16_000, value_parser = parse_rate)]
    pub device_rate: u32,
    /// The ring's rate in Hz.
    #[arg(long, default_value_t = 16_000, value_parser = parse_rate)]
    pub rate: u32,
    /// Samples per frame.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=i64::from(v2m_layout::MAX_FRAME_SAMPLES)))]
    pub frame: u32,
    /// Seconds of audio to push through.
    #[arg(long, default_value_t = 60.0, value_parser = parse_duration)]
    pub seconds: f64,
}

impl BenchDspArgs {
    /// The configuration `bench-dsp` works from.
    pub fn config(&self) -> BenchDspConfig {
        BenchDspConfig {
            channels: self.channels as usize,
            device_rate: self.device_rate,
            ring_rate: self.rate,
            frame: self.frame,
            seconds: self.seconds,
        }
    }
}

/// `--channels`: a count, or every channel the source has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelCount {
    /// This many.
    Count(usize),
    /// `all`.
    All,
}

/// `--channel-map`: source channels, in ring order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelMap(pub Vec<usize>);

impl RunArgs {
    /// `--channels` and `--channel-map` together.
    fn channel_request(&self) -> Result<ChannelRequest, EngineError> {
        match (&self.channel_map, self.channels) {
            (Some(ChannelMap(map)), Some(ChannelCount::Count(n))) if n != map.len() => {
                Err(EngineError::BadInput(format!(
                    "--channels {n} and a --channel-map of {} channels disagree; give one of them",
                    map.len()
                )))
            }
            (Some(_), Some(ChannelCount::All)) => Err(EngineError::BadInput(
                "--channels all and --channel-map both choose the channels; give one of them".into(),
            )),
            (Some(ChannelMap(map)), _) => Ok(ChannelRequest::Map(map.clone())),
            (None, None | Some(ChannelCount::Count(1))) => Ok(ChannelRequest::Mix),
            (None, Some(ChannelCount::Count(n))) => Ok(ChannelRequest::First(n)),
            (None, Some(ChannelCount::All)) => Ok(ChannelRequest::All),
        }
    }
}

fn parse_channels(text: &str) -> Result<ChannelCount, String> {
    let most = v2m_layout::MAX_CHANNELS as usize;
    match text {
        "all" => Ok(ChannelCount::All),
        _ => match text.parse::<usize>() {
            Ok(n) if (1..=most).contains(&n) => Ok(ChannelCount::Count(n)),
            _ => Err(format!("channels are a count in 1..={most}, or all")),
        },
    }
}

fn parse_channel_map(text: &str) -> Result<ChannelMap, String> {
    let most = v2m_layout::MAX_CHANNELS as usize;
    let map = text
        .split(',')
        .map(|c| c.trim().parse::<usize>().ok().filter(|&c| c < 64))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| {
            "a channel map is source channels counted from 0, comma-separated, e.g. 0,2,3".to_string()
        })?;
    if map.len() > most {
        return Err(format!("a ring holds at most {most} channels; the map names {}", map.len()));
    }
    Ok(ChannelMap(map))
}

fn parse_vad_channel(text: &str) -> Result<VadChannel, String> {
    match text {
        "mix" => Ok(VadChannel::Mix),
        _ => text
            .parse::<usize>()
            .map(VadChannel::Channel)
            .map_err(|_| "the VAD channel is mix or a ring channel counted from 0".to_string()),
    }
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

/// A number of seconds within `range` (which also rules out NaN and infinities).
fn parse_seconds_in(text: &str, range: std::ops::RangeInclusive<f64>) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if range.contains(&s) => Ok(s),
        _ => Err(format!("a number of seconds from {} to {} is needed", range.start(), range.end())),
    }
}

fn parse_linger(text: &str) -> Result<f64, String> {
    parse_seconds_in(text, 0.0..=3600.0)
}

fn parse_duration(text: &str) -> Result<f64, String> {
    // Ten million seconds is 115 days: enough for any run, far from overflowing.
    parse_seconds_in(text, 0.0..=1e7)
}

fn parse_interval_s(text: &str) -> Result<f64, String> {
    parse_seconds_in(text, 0.05..=3600.0)
}

fn parse_interval_ms(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(ms) if (0.0..=10_000.0).contains(&ms) => Ok(ms),
        _ => Err("an interval from 0 to 10000 ms is needed".into()),
    }
}
