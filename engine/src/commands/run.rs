//! `v2m-engine run`: builds the stages (source → DSP → VAD → ring) from a
//! [`RunConfig`] and pumps audio through them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use v2m_layout::{Geometry, RingConfig};

use crate::dsp::channels::{ChannelRequest, ChannelSelection, VadChannel};
use crate::dsp::pipeline::FramePipeline;
use crate::error::EngineError;
use crate::log;
use crate::pacing::{FrameClock, Speed};
use crate::priority::{self, Outcome, PriorityChoice};
use crate::publish::Publisher;
use crate::signals::Signals;
use crate::source::{self, Source, SourceOptions, SourceSpec};
use crate::vad::{self, hysteresis::SpeechGate, VadSettings};
use v2m_ring::clock;
use v2m_ring::shm::cursors::PacingReaders;
use v2m_ring::shm::RingName;
use v2m_ring::RingWriter;

/// Sample frames read from a source at a time.
pub const READ_FRAMES: usize = 1024;
/// How much of a frame must have arrived from a live source before the VAD
/// warms its caches for it (with 5 ms device buffers and 32 ms frames, one
/// or two buffers before the frame is complete).
const PREPARE_AT_FILL: f64 = 0.75;
/// Input chunk of the resampler for live sources: small, for low latency.
pub const LIVE_RESAMPLER_CHUNK: usize = 96;

/// Everything `run` needs, already checked (the CLI builds it).
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The ring's name.
    pub name: RingName,
    /// Where the audio comes from.
    pub source: SourceSpec,
    /// How to open it.
    pub source_options: SourceOptions,
    /// Replay speed of a file or synthetic source.
    pub speed: Speed,
    /// Stop after this much source audio.
    pub duration: Option<Duration>,
    /// How long a finished ring stays readable.
    pub linger: Duration,
    /// What the header records: format, VAD configuration, speed, source.
    pub ring: RingConfig,
    /// Create the segment group-readable.
    pub group_readable: bool,
    /// The detector to build.
    pub vad: VadSettings,
    /// Never overwrite a frame a pacing reader still needs (finite sources only).
    pub pace_to_readers: bool,
    /// Raise the DSP and capture threads to real-time priority.
    pub priority: PriorityChoice,
    /// The source channels the ring keeps.
    pub channels: ChannelRequest,
    /// What the VAD listens to.
    pub vad_channel: VadChannel,
}

/// Runs the engine until the source ends or a stop signal arrives.
pub fn run(config: &RunConfig, signals: Signals) -> Result<(), EngineError> {
    let stop = signals.stop;
    let g = config.ring.geometry;
    let vad = vad::build(&config.vad, g.sample_rate, g.frame_samples)?;
    // Every input problem is found before the ring exists.
    let mut options = config.source_options;
    if options.capture.device_channels.is_none() {
        options.capture.device_channels = config.channels.device_channels();
    }
    if config.channels == ChannelRequest::All
        && config.source.is_live()
        && options.capture.device_channels.is_none()
    {
        return Err(EngineError::BadInput(
            "--channels all from a capture device needs --device-channels N, the channels to open it with \
             (`v2m-engine devices` lists what each device offers)"
                .into(),
        ));
    }
    let mut source = source::open(&config.source, g.sample_rate, options, Arc::clone(&stop))?;
    let selection = config.channels.resolve(source.channels(), &config.source.to_string())?;
    let ring = ring_config(config, &selection)?;
    let g = ring.geometry;
    let resampler_chunk = if source.is_live() { LIVE_RESAMPLER_CHUNK } else { READ_FRAMES };
    let pipeline = FramePipeline::new(
        source.rate(),
        source.channels(),
        selection,
        g.sample_rate,
        g.frame_samples as usize,
        READ_FRAMES,
        resampler_chunk,
    )?;
    let frame_clock = match source.is_live() {
        true => FrameClock::live(source.rate(), g.sample_rate),
        false => FrameClock::paced(config.speed, g.sample_rate),
    };
    let gate = SpeechGate::from_config(&ring.vad, g.frame_ns() as f64 / 1e6);
    let writer = RingWriter::create(&config.name, &ring, config.group_readable)?;
    log::info!(
        "ring '{}' ({}): {} → {} Hz {}, {}-sample frames, {} slots, vad {}{}",
        config.name.as_str(),
        config.name.path().display(),
        config.source,
        g.sample_rate,
        channels_text(g.channels),
        g.frame_samples,
        g.slot_count,
        config.vad.choice,
        match (g.channels, config.vad_channel) {
            (1, _) | (_, VadChannel::Mix) => String::new(),
            (_, VadChannel::Channel(k)) => format!(" on channel {k}"),
        },
    );
    let generation = writer.header().generation;
    let mut publisher =
        Publisher::new(writer, vad, config.vad_channel, gate, frame_clock, &stop, &signals.report);
    if config.pace_to_readers {
        publisher.pace_to(PacingReaders::new(&config.name, generation));
    }
    let limit = config.duration.map(|d| (d.as_secs_f64() * f64::from(source.rate())).round() as u64);
    // A replay at --speed max never waits: a real-time thread would only take a core.
    let paced = source.is_live() || config.speed != Speed::Max;
    let raised = (config.priority == PriorityChoice::Realtime && paced)
        .then(|| priority::raise_current_thread(priority::DSP_PRIORITY));
    let mut report = PriorityReport { dsp: raised };
    let ended = pump(source.as_mut(), pipeline, &mut publisher, g.sample_rate, limit, &mut report)?;
    let published = publisher.writer.header().write_seq.load(Ordering::Relaxed);
    publisher.writer.close();
    log::info!("ring '{}' closed after {published} frames", config.name.as_str());
    if ended {
        linger(config.linger, &stop);
    }
    Ok(())
    // Dropping the writer unlinks the segment.
}

/// The ring's configuration once the source's channels are known: as many
/// channels as the selection keeps, and the VAD's channel recorded.
fn ring_config(config: &RunConfig, selection: &ChannelSelection) -> Result<RingConfig, EngineError> {
    let mut ring = config.ring.clone();
    let channels = selection.ring_channels();
    let g = ring.geometry;
    ring.geometry = Geometry::new(g.sample_rate, channels as u32, g.frame_samples, g.slot_count)
        .map_err(|e| EngineError::BadInput(e.to_string()))?;
    ring.vad.channel = match config.vad_channel {
        VadChannel::Mix => None,
        VadChannel::Channel(k) if k < channels => Some(k as u32),
        VadChannel::Channel(k) => {
            return Err(EngineError::BadInput(format!(
                "--vad-channel {k} is not a channel of this ring, which has {channels} (0 to {}); \
                 give one of those, or mix",
                channels - 1
            )))
        }
    };
    Ok(ring)
}

fn channels_text(channels: u32) -> String {
    match channels {
        1 => "mono".into(),
        n => format!("{n} channels"),
    }
}

/// Moves audio from the source to the publisher until the source ends, the
/// `limit` (in source sample frames) is reached, or `stop` is raised; true
/// if the audio ended rather than being stopped.
fn pump(
    source: &mut dyn Source,
    mut pipeline: FramePipeline,
    publisher: &mut Publisher<'_>,
    ring_rate: u32,
    limit: Option<u64>,
    report: &mut PriorityReport,
) -> Result<bool, EngineError> {
    let channels = source.channels();
    let source_per_ring = f64::from(source.rate()) / f64::from(ring_rate);
    let mut interleaved = vec![0.0f32; READ_FRAMES * channels];
    let mut position = 0u64;
    let mut prepared = false;
    while !publisher.stop.load(Ordering::Relaxed) && limit.is_none_or(|l| position < l) {
        let chunk = source.read(&mut interleaved)?;
        report.once_known(source);
        let frames = limit.map_or(chunk.frames, |l| chunk.frames.min((l - position) as usize));
        if frames == 0 {
            break;
        }
        publisher.note_chunk_faults(&chunk);
        if let Some(capture_ns) = chunk.capture_ns {
            publisher.clock.anchor(position, capture_ns);
        }
        position += frames as u64;
        let source: &dyn Source = source;
        let whole = pipeline.frame_len();
        pipeline.push(&interleaved[..frames * channels], |frame, pos| {
            publisher.frame(frame, pos, whole, source, source_per_ring);
            prepared = false;
        });
        // A live source delivers a frame in several device buffers: once most of it
        // is here, the VAD warms up while the rest arrives.
        if source.is_live() && !prepared && pipeline.frame_fill() >= PREPARE_AT_FILL {
            publisher.prepare_vad();
            prepared = true;
        }
    }
    if publisher.stop.load(Ordering::Relaxed) {
        return Ok(false);
    }
    let source: &dyn Source = source;
    pipeline.finish(|frame, pos, valid| publisher.frame(frame, pos, valid, source, source_per_ring));
    Ok(true)
}

/// Keeps a finished ring readable for `duration` so late readers can drain it.
fn linger(duration: Duration, stop: &AtomicBool) {
    let until = clock::monotonic_ns() + duration.as_nanos() as u64;
    while !stop.load(Ordering::Relaxed) && clock::monotonic_ns() < until {
        clock::sleep_until((clock::monotonic_ns() + 20_000_000).min(until));
    }
}

/// The priority log line, said once what the DSP thread got is known and (for
/// a device) what the capture callback's thread got on its first buffer.
struct PriorityReport {
    dsp: Option<Outcome>,
}

impl PriorityReport {
    fn once_known(&mut self, source: &dyn Source) {
        let Some(dsp) = self.dsp else { return };
        let callback = source.callback_priority();
        if source.is_live() && callback.is_none() {
            return;
        }
        log::info!("{}", priority::describe(dsp, callback));
        self.dsp = None;
    }
}
