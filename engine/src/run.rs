//! `v2m-engine run`: source → downmix → resample → frames → VAD → ring.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use v2m_layout::{Geometry, FLAG_DISCONTINUITY, FLAG_PADDED, FLAG_SOURCE_RESTART};

use clap::ValueEnum;

use crate::cli::{RunArgs, Speed, VadChoice};
use crate::clock;
use crate::dsp::{downmix::downmix, framer::Framer, level, resample::Resampler};
use crate::error::EngineError;
use crate::pacing::Pacer;
use crate::ring::{FrameMeta, RingConfig, RingWriter};
use crate::source::{self, ReplayOptions, Source};
use crate::vad::{energy::EnergyVad, hysteresis::SpeechGate, NoVad, Vad, VadInput};

/// Sample frames read from a source at a time.
const READ_FRAMES: usize = 1024;

/// Runs the engine until the source ends or `stop` is raised.
pub fn run(args: &RunArgs, stop: &AtomicBool) -> Result<(), EngineError> {
    let geometry = Geometry::new(args.rate, 1, args.frame, args.slots)
        .map_err(|e| EngineError::BadInput(e.to_string()))?;
    let (vad, vad_kind) = make_vad(args)?;
    let neg_threshold = args
        .vad_neg_threshold
        .unwrap_or((args.vad_threshold - 0.15).max(0.0));
    if neg_threshold > args.vad_threshold {
        return Err(EngineError::BadInput(format!(
            "--vad-neg-threshold {neg_threshold} is above --vad-threshold {}; it must be at or below it",
            args.vad_threshold
        )));
    }
    let options = ReplayOptions {
        looping: args.looping,
        duration_s: args.duration,
    };
    let mut source = source::open(&args.source, args.rate, options)?;
    let resampler = match source.rate() == args.rate {
        true => None,
        false => Some(Resampler::new(source.rate(), args.rate, READ_FRAMES)?),
    };
    let frame_ms = f64::from(args.frame) * 1000.0 / f64::from(args.rate);
    let min_silence_frames = (f64::from(args.vad_min_silence_ms) / frame_ms).ceil() as u32;
    let config = RingConfig {
        geometry,
        vad_kind,
        vad_threshold: args.vad_threshold,
        vad_neg_threshold: neg_threshold,
        vad_min_silence_ms: args.vad_min_silence_ms,
        source_speed: match args.speed {
            Speed::Max => 0.0,
            Speed::Factor(f) => f as f32,
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
        args.vad
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    );
    let mut publisher = Publisher {
        writer,
        vad,
        gate: SpeechGate::new(args.vad_threshold, neg_threshold, min_silence_frames),
        pacer: Pacer::new(args.speed, args.rate),
        pending_flags: 0,
        stop,
    };
    let ended = pump(
        source.as_mut(),
        resampler,
        &mut publisher,
        args.frame as usize,
    )?;
    let published = publisher.writer.header().write_seq.load(Ordering::Relaxed);
    publisher.writer.close();
    eprintln!(
        "v2m-engine: ring '{}' closed after {published} frames",
        args.name.as_str()
    );
    if ended {
        linger(Duration::from_secs_f64(args.linger), stop);
    }
    Ok(())
    // Dropping the writer unlinks the segment.
}

fn make_vad(args: &RunArgs) -> Result<(Box<dyn Vad>, u32), EngineError> {
    match args.vad {
        VadChoice::Energy => Ok((
            Box::new(EnergyVad::new(args.rate, args.frame)),
            v2m_layout::VAD_ENERGY,
        )),
        VadChoice::Off => Ok((Box::new(NoVad), v2m_layout::VAD_OFF)),
        VadChoice::Silero => Err(EngineError::BadInput(
            "--vad silero is not in this build yet; use --vad energy or --vad off".into(),
        )),
    }
}

/// Moves audio from the source to the publisher; true if the source ended
/// (false if `stop` was raised first).
fn pump(
    source: &mut dyn Source,
    mut resampler: Option<Resampler>,
    publisher: &mut Publisher<'_>,
    frame_samples: usize,
) -> Result<bool, EngineError> {
    let channels = source.channels();
    let mut interleaved = vec![0.0f32; READ_FRAMES * channels];
    let mut mono = vec![0.0f32; READ_FRAMES];
    let mut framer = Framer::new(frame_samples);
    loop {
        if publisher.stop.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let chunk = source.read(&mut interleaved)?;
        if chunk.frames == 0 {
            break;
        }
        if chunk.restarted {
            publisher.mark(FLAG_DISCONTINUITY | FLAG_SOURCE_RESTART);
            publisher.writer.count(|s| &s.source_restarts, 1);
        }
        let mono = &mut mono[..chunk.frames];
        downmix(&interleaved[..chunk.frames * channels], channels, mono);
        let mut to_frames = |samples: &[f32]| {
            framer.push(samples, |frame, pos| {
                publisher.frame(frame, pos, frame.len())
            })
        };
        match resampler.as_mut() {
            Some(r) => r.push(mono, &mut to_frames),
            None => to_frames(mono),
        }
    }
    if let Some(r) = resampler.as_mut() {
        r.finish(&mut |samples: &[f32]| {
            framer.push(samples, |frame, pos| {
                publisher.frame(frame, pos, frame.len())
            })
        });
    }
    framer.finish(|frame, pos, valid| {
        publisher.mark(FLAG_PADDED);
        publisher.frame(frame, pos, valid);
    });
    Ok(true)
}

/// The last stage: paces, analyses and publishes each frame.
struct Publisher<'a> {
    writer: RingWriter,
    vad: Box<dyn Vad>,
    gate: SpeechGate,
    pacer: Pacer,
    /// Flags for the next frame published.
    pending_flags: u32,
    stop: &'a AtomicBool,
}

impl Publisher<'_> {
    fn mark(&mut self, flags: u32) {
        self.pending_flags |= flags;
    }

    /// `frame` starts at ring-sample `position`; its first `valid` samples are audio.
    fn frame(&mut self, frame: &[f32], position: u64, valid: usize) {
        self.pacer
            .wait_for(position + frame.len() as u64, self.stop);
        let flags = std::mem::take(&mut self.pending_flags);
        let level = level::measure(&frame[..valid]);
        let started = Instant::now();
        let vad_prob = self.vad.probability(&VadInput {
            level,
            discontinuity: flags & FLAG_DISCONTINUITY != 0,
        });
        self.writer
            .record_vad_time(started.elapsed().as_nanos() as u64);
        let meta = FrameMeta {
            capture_ns: self.pacer.time_of(position),
            vad_prob,
            speech: self.gate.update(vad_prob),
            rms: level.rms,
            peak: level.peak,
            flags,
            valid_samples: valid as u32,
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
