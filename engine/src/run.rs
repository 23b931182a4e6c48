//! `v2m-engine run`: source → downmix → resample → frames → VAD → ring.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use v2m_layout::{Geometry, FLAG_DEVICE_OVERRUN, FLAG_DISCONTINUITY, FLAG_PADDED, FLAG_SOURCE_RESTART};

use crate::capture::CaptureOptions;
use crate::cli::{RunArgs, Speed, VadChoice};
use crate::clock;
use crate::dsp::{level, pipeline::FramePipeline};
use crate::error::EngineError;
use crate::pacing::FrameClock;
use crate::ring::{FrameMeta, RingConfig, RingWriter};
use crate::source::{self, Source, SourceOptions};
use crate::vad::{
    assets, energy::EnergyVad, hysteresis::SpeechGate, silero::SileroVad, NoVad, Vad, VadInput,
};

/// Sample frames read from a source at a time.
const READ_FRAMES: usize = 1024;
/// Input chunk of the resampler for live sources: small, for low latency.
const LIVE_RESAMPLER_CHUNK: usize = 96;

/// Runs the engine until the source ends or `stop` is raised.
pub fn run(args: &RunArgs, stop: Arc<AtomicBool>) -> Result<(), EngineError> {
    let geometry = Geometry::new(args.rate, 1, args.frame, args.slots)
        .map_err(|e| EngineError::BadInput(e.to_string()))?;
    let (vad, vad_kind) = make_vad(args)?;
    let neg_threshold = args.vad_neg_threshold.unwrap_or((args.vad_threshold - 0.15).max(0.0));
    if neg_threshold > args.vad_threshold {
        return Err(EngineError::BadInput(format!(
            "--vad-neg-threshold {neg_threshold} is above --vad-threshold {}; it must be at or below it",
            args.vad_threshold
        )));
    }
    let options = SourceOptions {
        looping: args.looping,
        capture: CaptureOptions {
            device_rate: args.device_rate,
            device_channels: args.device_channels,
            buffer_ms: args.capture_buffer_ms,
            period_ms: args.device_buffer_ms,
        },
    };
    // Every input problem is found before the ring exists.
    let mut source = source::open(&args.source, args.rate, options, Arc::clone(&stop))?;
    let resampler_chunk = if source.is_live() { LIVE_RESAMPLER_CHUNK } else { READ_FRAMES };
    let pipeline = FramePipeline::new(
        source.rate(),
        source.channels(),
        args.rate,
        args.frame as usize,
        READ_FRAMES,
        resampler_chunk,
    )?;
    let frame_clock = match source.is_live() {
        true => FrameClock::live(source.rate(), args.rate),
        false => FrameClock::paced(args.speed, args.rate),
    };
    let frame_ms = f64::from(args.frame) * 1000.0 / f64::from(args.rate);
    let min_silence_frames = (f64::from(args.vad_min_silence_ms) / frame_ms).ceil() as u32;
    let config = RingConfig {
        geometry,
        vad_kind,
        vad_threshold: args.vad_threshold,
        vad_neg_threshold: neg_threshold,
        vad_min_silence_ms: args.vad_min_silence_ms,
        source_speed: match (source.is_live(), args.speed) {
            (true, _) => 1.0,
            (false, Speed::Max) => 0.0,
            (false, Speed::Factor(f)) => f as f32,
        },
        source: args.source.to_string(),
        group_readable: args.group_readable,
    };
    let writer = RingWriter::create(&args.name, &config)?;
    eprintln!(
        "v2m-engine: ring '{}' ({}): {} → {} Hz mono, {}-sample frames, {} slots, vad {}",
        args.name.as_str(),
        args.name.path().display(),
        args.source,
        args.rate,
        args.frame,
        args.slots,
        args.vad.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default()
    );
    let mut publisher = Publisher {
        writer,
        vad,
        gate: SpeechGate::new(args.vad_threshold, neg_threshold, min_silence_frames),
        clock: frame_clock,
        pending_flags: 0,
        stop: &stop,
    };
    let limit = args.duration.map(|s| (s * f64::from(source.rate())).round() as u64);
    let ended = pump(source.as_mut(), pipeline, &mut publisher, args.rate, limit)?;
    let published = publisher.writer.header().write_seq.load(Ordering::Relaxed);
    publisher.writer.close();
    eprintln!("v2m-engine: ring '{}' closed after {published} frames", args.name.as_str());
    if ended {
        linger(Duration::from_secs_f64(args.linger), &stop);
    }
    Ok(())
    // Dropping the writer unlinks the segment.
}

fn make_vad(args: &RunArgs) -> Result<(Box<dyn Vad>, u32), EngineError> {
    match args.vad {
        VadChoice::Energy => Ok((Box::new(EnergyVad::new(args.rate, args.frame)), v2m_layout::VAD_ENERGY)),
        VadChoice::Off => Ok((Box::new(NoVad), v2m_layout::VAD_OFF)),
        VadChoice::Silero => {
            let files = assets::locate(args.vad_model.as_deref(), args.ort_lib.as_deref())?;
            Ok((Box::new(SileroVad::new(&files, args.rate)?), v2m_layout::VAD_SILERO))
        }
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
) -> Result<bool, EngineError> {
    let channels = source.channels();
    let source_per_ring = f64::from(source.rate()) / f64::from(ring_rate);
    let mut interleaved = vec![0.0f32; READ_FRAMES * channels];
    let mut position = 0u64;
    while !publisher.stop.load(Ordering::Relaxed) && limit.is_none_or(|l| position < l) {
        let chunk = source.read(&mut interleaved)?;
        let frames = limit.map_or(chunk.frames, |l| chunk.frames.min((l - position) as usize));
        if frames == 0 {
            break;
        }
        publisher.note_chunk_faults(chunk.restarted, chunk.lost_frames, chunk.overruns);
        if let Some(capture_ns) = chunk.capture_ns {
            publisher.clock.anchor(position, capture_ns);
        }
        position += frames as u64;
        let source: &dyn Source = source;
        pipeline.push(&interleaved[..frames * channels], |frame, pos| {
            publisher.frame(frame, pos, frame.len(), source, source_per_ring)
        });
    }
    if publisher.stop.load(Ordering::Relaxed) {
        return Ok(false);
    }
    let source: &dyn Source = source;
    pipeline.finish(|frame, pos, valid| publisher.frame(frame, pos, valid, source, source_per_ring));
    Ok(true)
}

/// The source sample frame that ring sample `ring_position` was made from
/// (the resampler's delay is removed, so the two line up in time).
fn source_position_of(ring_position: u64, source_per_ring: f64) -> u64 {
    (ring_position as f64 * source_per_ring).ceil() as u64
}

/// The last stage: paces, analyses and publishes each frame.
struct Publisher<'a> {
    writer: RingWriter,
    vad: Box<dyn Vad>,
    gate: SpeechGate,
    clock: FrameClock,
    /// Flags for the next frame published.
    pending_flags: u32,
    stop: &'a AtomicBool,
}

impl Publisher<'_> {
    /// Counts what went wrong before a chunk and flags the next frame.
    fn note_chunk_faults(&mut self, restarted: bool, lost_frames: u64, overruns: u64) {
        if restarted {
            self.pending_flags |= FLAG_DISCONTINUITY | FLAG_SOURCE_RESTART;
            self.writer.count(|s| &s.source_restarts, 1);
        }
        if lost_frames > 0 {
            self.pending_flags |= FLAG_DISCONTINUITY;
            self.writer.count(|s| &s.samples_lost, lost_frames);
        }
        if overruns > 0 {
            self.pending_flags |= FLAG_DISCONTINUITY | FLAG_DEVICE_OVERRUN;
            self.writer.count(|s| &s.device_overruns, overruns);
        }
    }

    /// `frame` starts at ring-sample `position`; its first `valid` samples are
    /// audio (fewer: the source ended inside it). `source` may know when the
    /// frame's last sample arrived.
    fn frame(
        &mut self,
        frame: &[f32],
        position: u64,
        valid: usize,
        source: &dyn Source,
        source_per_ring: f64,
    ) {
        let end = position + frame.len() as u64;
        self.clock.wait_for(end, self.stop);
        let arrival_ns = source
            .arrival_ns(source_position_of(end - 1, source_per_ring))
            .unwrap_or_else(|| self.clock.due_ns(end));
        if valid < frame.len() {
            self.pending_flags |= FLAG_PADDED;
        }
        let flags = std::mem::take(&mut self.pending_flags);
        let level = level::measure(&frame[..valid]);
        let started = Instant::now();
        let vad_prob = self.vad.probability(&VadInput {
            samples: frame,
            level,
            discontinuity: flags & FLAG_DISCONTINUITY != 0,
        });
        self.writer.record_vad_time(started.elapsed().as_nanos() as u64);
        let meta = FrameMeta {
            capture_ns: self.clock.capture_ns(position),
            vad_prob,
            speech: self.gate.update(vad_prob),
            rms: level.rms,
            peak: level.peak,
            flags,
            valid_samples: valid as u32,
            arrival_ns,
        };
        self.writer.publish(frame, &meta);
    }
}

/// Keeps a finished ring readable for `duration` so late readers can drain it.
fn linger(duration: Duration, stop: &AtomicBool) {
    let until = clock::monotonic_ns() + duration.as_nanos() as u64;
    while !stop.load(Ordering::Relaxed) && clock::monotonic_ns() < until {
        clock::sleep_until((clock::monotonic_ns() + 20_000_000).min(until));
    }
}
