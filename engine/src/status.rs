//! `v2m-engine status`: what a ring's header says, and whether its engine lives.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;

use serde_json::json;
use v2m_layout::{HeaderInfo, HEADER_USED, STATE_CLOSED, STATE_RUNNING, VAD_ENERGY, VAD_SILERO};

use crate::error::EngineError;
use crate::shm::{segment::owner_alive, RingName};

/// Prints the status of ring `name`, as text or JSON.
pub fn status(name: &RingName, as_json: bool) -> Result<(), EngineError> {
    let path = name.path();
    let file = File::open(&path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => EngineError::NoRing { name: name.as_str().into() },
        _ => EngineError::system(format!("opening {}", path.display()), e),
    })?;
    let len = file.metadata().map_err(|e| EngineError::system("reading the segment's size", e))?.len();
    let mut bytes = vec![0u8; HEADER_USED.min(len as usize)];
    file.read_exact_at(&mut bytes, 0).map_err(|e| EngineError::system("reading the header", e))?;
    let info = HeaderInfo::parse(&bytes, len)
        .map_err(|error| EngineError::Layout { name: name.as_str().into(), error })?;
    let alive = owner_alive(&file)?;
    let state = match info.state {
        STATE_RUNNING => "running",
        STATE_CLOSED => "closed",
        _ => "starting",
    };
    let vad = match info.vad_kind {
        VAD_SILERO => "silero",
        VAD_ENERGY => "energy",
        _ => "off",
    };
    let g = &info.geometry;
    let [overruns, lost, restarts, discontinuities, vad_total, vad_max, vad_frames, last_publish] =
        info.stats;
    let vad_mean_us = if vad_frames > 0 { vad_total as f64 / vad_frames as f64 / 1000.0 } else { 0.0 };
    if as_json {
        let doc = json!({
            "name": name.as_str(), "path": path.display().to_string(),
            "state": state, "alive": alive, "generation": info.generation, "pid": info.writer_pid,
            "version": format!("{}.{}", info.version.0, info.version.1),
            "source": info.source, "speed": info.source_speed,
            "sample_rate": g.sample_rate, "channels": g.channels, "frame_samples": g.frame_samples,
            "slots": g.slot_count, "bytes": g.total_size, "frames_written": info.write_seq,
            "vad": vad, "vad_threshold": info.vad_threshold, "vad_neg_threshold": info.vad_neg_threshold,
            "vad_min_silence_ms": info.vad_min_silence_ms,
            "stats": {
                "device_overruns": overruns, "samples_lost": lost, "source_restarts": restarts,
                "discontinuities": discontinuities, "vad_frames": vad_frames,
                "vad_mean_us": vad_mean_us, "vad_max_us": vad_max as f64 / 1000.0,
                "last_publish_ns": last_publish,
            },
        });
        println!("{doc}");
    } else {
        let liveness = if alive { "alive" } else { "dead" };
        println!("ring        {} ({})", name.as_str(), path.display());
        println!(
            "state       {state}, engine pid {} {liveness}, generation {:016x}",
            info.writer_pid, info.generation
        );
        println!("layout      version {}.{}, {} bytes", info.version.0, info.version.1, g.total_size);
        println!("source      {} (speed {})", info.source, speed_text(info.source_speed));
        println!(
            "format      {} Hz, {} channel(s), {} samples/frame, {} slots",
            g.sample_rate, g.channels, g.frame_samples, g.slot_count
        );
        println!("frames      {} written, {discontinuities} discontinuities", info.write_seq);
        println!(
            "vad         {vad}, threshold {} / {}, min silence {} ms",
            info.vad_threshold, info.vad_neg_threshold, info.vad_min_silence_ms
        );
        println!(
            "vad time    mean {vad_mean_us:.1} µs, max {:.1} µs over {vad_frames} frames",
            vad_max as f64 / 1000.0
        );
        println!("losses      {overruns} device overruns, {lost} samples lost, {restarts} source restarts");
    }
    Ok(())
}

fn speed_text(speed: f32) -> String {
    if speed == 0.0 {
        "max".into()
    } else {
        format!("{speed}x")
    }
}

/// Prints every layout field's offset and size as JSON, for the test that
/// proves the Python reader reads the same layout.
pub fn layout_json() {
    let fields = |table: Vec<(&str, usize, usize)>| {
        table
            .into_iter()
            .map(|(name, off, size)| (name.to_string(), json!([off, size])))
            .collect::<serde_json::Map<_, _>>()
    };
    let doc = json!({
        "version": [v2m_layout::VERSION_MAJOR, v2m_layout::VERSION_MINOR],
        "magic": String::from_utf8_lossy(&v2m_layout::MAGIC[..7]),
        "header_size": v2m_layout::HEADER_SIZE,
        "header_used": HEADER_USED,
        "slot_meta_size": v2m_layout::SLOT_META_SIZE,
        "header": fields(v2m_layout::Header::field_table()),
        "slot": fields(v2m_layout::SlotMeta::field_table()),
        "flags": {
            "discontinuity": v2m_layout::FLAG_DISCONTINUITY, "padded": v2m_layout::FLAG_PADDED,
            "device_overrun": v2m_layout::FLAG_DEVICE_OVERRUN, "source_restart": v2m_layout::FLAG_SOURCE_RESTART,
        },
        "states": {"starting": v2m_layout::STATE_STARTING, "running": STATE_RUNNING, "closed": STATE_CLOSED},
        "vad": {"off": v2m_layout::VAD_OFF, "energy": VAD_ENERGY, "silero": VAD_SILERO},
        "format_f32le": v2m_layout::FORMAT_F32LE,
    });
    println!("{doc}");
}
