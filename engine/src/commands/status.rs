//! `v2m-engine status`: what a ring's header says, and whether its engine lives.

use std::os::unix::fs::FileExt;

use serde_json::json;
use v2m_layout::{HeaderInfo, HEADER_USED, STATE_CLOSED, STATE_RUNNING};

use super::output;
use crate::error::EngineError;
use crate::shm::inspect::{open_ring_file, owner_alive};
use crate::shm::RingName;

/// Prints the status of ring `name`, as text or JSON.
pub fn status(name: &RingName, as_json: bool) -> Result<(), EngineError> {
    let path = name.path();
    let ring =
        open_ring_file(&path, None)?.ok_or_else(|| EngineError::NoRing { name: name.as_str().into() })?;
    let mut bytes = vec![0u8; HEADER_USED.min(ring.len as usize)];
    ring.file.read_exact_at(&mut bytes, 0).map_err(|e| EngineError::system("reading the header", e))?;
    let info = HeaderInfo::parse(&bytes, ring.len)
        .map_err(|error| EngineError::Layout { name: name.as_str().into(), error })?;
    let alive = owner_alive(&ring.file)?;
    let state = match info.state {
        STATE_RUNNING => "running",
        STATE_CLOSED => "closed",
        _ => "starting",
    };
    let vad = info.config.vad;
    let g = &info.config.geometry;
    let stats = info.stats;
    let vad_mean_us =
        if stats.vad_frames > 0 { stats.vad_ns_total as f64 / stats.vad_frames as f64 / 1000.0 } else { 0.0 };
    let vad_max_us = stats.vad_ns_max as f64 / 1000.0;
    if as_json {
        let doc = json!({
            "name": name.as_str(), "path": path.display().to_string(), "uid": ring.uid,
            "state": state, "alive": alive, "generation": info.generation, "pid": info.writer_pid,
            "version": format!("{}.{}", info.version.0, info.version.1),
            "source": info.config.source, "speed": info.config.source_speed,
            "sample_rate": g.sample_rate, "channels": g.channels, "frame_samples": g.frame_samples,
            "slots": g.slot_count, "bytes": g.total_size, "frames_written": info.write_seq,
            "vad": vad.kind.name(), "vad_threshold": vad.threshold, "vad_neg_threshold": vad.neg_threshold,
            "vad_min_silence_ms": vad.min_silence_ms,
            "stats": {
                "device_overruns": stats.device_overruns, "samples_lost": stats.samples_lost,
                "source_restarts": stats.source_restarts, "discontinuities": stats.discontinuities,
                "vad_frames": stats.vad_frames, "vad_mean_us": vad_mean_us, "vad_max_us": vad_max_us,
                "last_publish_ns": stats.last_publish_ns,
            },
        });
        return output::println(&doc.to_string());
    }
    let liveness = if alive { "alive" } else { "dead" };
    let lines = [
        format!("ring        {} ({}, owner uid {})", name.as_str(), path.display(), ring.uid),
        format!(
            "state       {state}, engine pid {} {liveness}, generation {:016x}",
            info.writer_pid, info.generation
        ),
        format!("layout      version {}.{}, {} bytes", info.version.0, info.version.1, g.total_size),
        format!("source      {} (speed {})", info.config.source, speed_text(info.config.source_speed)),
        format!(
            "format      {} Hz, {} channel(s), {} samples/frame, {} slots",
            g.sample_rate, g.channels, g.frame_samples, g.slot_count
        ),
        format!("frames      {} written, {} discontinuities", info.write_seq, stats.discontinuities),
        format!(
            "vad         {}, threshold {} / {}, min silence {} ms",
            vad.kind.name(),
            vad.threshold,
            vad.neg_threshold,
            vad.min_silence_ms
        ),
        format!(
            "vad time    mean {vad_mean_us:.1} µs, max {vad_max_us:.1} µs over {} frames",
            stats.vad_frames
        ),
        format!(
            "losses      {} device overruns, {} samples lost, {} source restarts",
            stats.device_overruns, stats.samples_lost, stats.source_restarts
        ),
    ];
    output::println(&lines.join("\n"))
}

fn speed_text(speed: f32) -> String {
    if speed == 0.0 {
        "max".into()
    } else {
        format!("{speed}x")
    }
}
