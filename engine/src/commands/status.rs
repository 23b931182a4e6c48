//! `v2m-engine status`: what a ring's header says, and whether its engine lives;
//! once, or refreshed every interval with `--watch`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use v2m_layout::{HeaderInfo, OriginKind};

use super::output;
use crate::error::EngineError;
use v2m_ring::clock;
use v2m_ring::shm::inspect::{open_ring_file, state_name};
use v2m_ring::shm::RingName;
use v2m_ring::RingError;

/// What `status` shows of one ring, read once.
struct Snapshot {
    info: HeaderInfo,
    uid: u32,
    alive: bool,
}

impl Snapshot {
    fn read(name: &RingName) -> Result<Snapshot, EngineError> {
        let path = name.path();
        let ring =
            open_ring_file(&path, None)?.ok_or_else(|| RingError::NoRing { name: name.as_str().into() })?;
        let info = ring.header(name.as_str())?;
        Ok(Snapshot { info, uid: ring.uid, alive: ring.writer_alive()? })
    }

    /// `running`, `closed`, `starting`, or `stale` (its engine died without closing it).
    fn state(&self) -> &'static str {
        state_name(self.info.state, self.alive)
    }

    fn uptime_s(&self) -> f64 {
        clock::monotonic_ns().saturating_sub(self.info.created_mono_ns) as f64 / 1e9
    }

    fn vad_us(&self) -> (f64, f64) {
        let s = self.info.stats;
        let mean = if s.vad_frames > 0 { s.vad_ns_total as f64 / s.vad_frames as f64 / 1000.0 } else { 0.0 };
        (mean, s.vad_ns_max as f64 / 1000.0)
    }

    /// The `--json` document (its schema is in docs/monitoring.md).
    fn json(&self, name: &RingName) -> Value {
        let (info, g, s) = (&self.info, &self.info.config.geometry, self.info.stats);
        let vad = info.config.vad;
        let (vad_mean_us, vad_max_us) = self.vad_us();
        json!({
            "name": name.as_str(), "path": name.path().display().to_string(), "uid": self.uid,
            "state": self.state(), "alive": self.alive, "generation": info.generation,
            "pid": info.writer_pid, "uptime_s": self.uptime_s(),
            "version": format!("{}.{}", info.version.0, info.version.1),
            "source": info.config.source, "speed": info.config.source_speed,
            "sample_rate": g.sample_rate, "channels": g.channels, "frame_samples": g.frame_samples,
            "slots": g.slot_count, "bytes": g.total_size, "frames_written": info.write_seq,
            "vad": vad.kind.name(), "vad_threshold": vad.threshold, "vad_neg_threshold": vad.neg_threshold,
            "vad_min_silence_ms": vad.min_silence_ms,
            "origin": origin_json(info), "first_index": info.config.first_index,
            "source_clock_offset_ns": info.source_clock_offset_ns,
            "stats": {
                "device_overruns": s.device_overruns, "samples_lost": s.samples_lost,
                "source_restarts": s.source_restarts, "discontinuities": s.discontinuities,
                "vad_frames": s.vad_frames, "vad_mean_us": vad_mean_us, "vad_max_us": vad_max_us,
                "last_publish_ns": s.last_publish_ns,
            },
        })
    }

    fn text(&self, name: &RingName) -> String {
        let (info, g, s) = (&self.info, &self.info.config.geometry, self.info.stats);
        let vad = info.config.vad;
        let (vad_mean_us, vad_max_us) = self.vad_us();
        let engine = match self.state() {
            "stale" => format!("stale (engine pid {} died without closing the ring)", info.writer_pid),
            state => format!(
                "{state}, engine pid {} {}",
                info.writer_pid,
                if self.alive { "alive" } else { "gone" }
            ),
        };
        [
            format!("ring        {} ({}, owner uid {})", name.as_str(), name.path().display(), self.uid),
            format!("state       {engine}, generation {:016x}, up {:.0} s", info.generation, self.uptime_s()),
            format!("layout      version {}.{}, {} bytes", info.version.0, info.version.1, g.total_size),
            format!("source      {} (speed {})", info.config.source, speed_text(info.config.source_speed)),
            format!("origin      {}", info.config.origin.describe()),
            format!(
                "format      {} Hz, {} channel(s), {} samples/frame, {} slots",
                g.sample_rate, g.channels, g.frame_samples, g.slot_count
            ),
            format!("frames      {} written, {} discontinuities", info.write_seq, s.discontinuities),
            format!(
                "vad         {}, threshold {} / {}, min silence {} ms",
                vad.kind.name(),
                vad.threshold,
                vad.neg_threshold,
                vad.min_silence_ms
            ),
            format!(
                "vad time    mean {vad_mean_us:.1} µs, max {vad_max_us:.1} µs over {} frames",
                s.vad_frames
            ),
            format!(
                "losses      {} device overruns, {} samples lost, {} source restarts",
                s.device_overruns, s.samples_lost, s.source_restarts
            ),
        ]
        .join("\n")
    }
}

/// `{"kind": "engine"}` or `{"kind": "mirror", "host", "ring", "key"}`.
pub fn origin_json(info: &HeaderInfo) -> Value {
    let origin = &info.config.origin;
    match origin.kind {
        OriginKind::Engine => json!({"kind": "engine"}),
        OriginKind::Mirror => {
            json!({"kind": "mirror", "host": origin.host, "ring": origin.ring, "key": origin.key})
        }
        OriginKind::Other(code) => json!({"kind": code}),
    }
}

/// Prints the status of ring `name`, as text or JSON; with `watch`, again every
/// `watch` until SIGINT or SIGTERM (a missing ring is then waited for, not an error).
pub fn status(name: &RingName, as_json: bool, watch: Option<Duration>) -> Result<(), EngineError> {
    let Some(interval) = watch else {
        let snapshot = Snapshot::read(name)?;
        return output::println(&if as_json { snapshot.json(name).to_string() } else { snapshot.text(name) });
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| EngineError::system("installing signal handlers", e))?;
    }
    let terminal = std::io::stdout().is_terminal();
    while !stop.load(Ordering::Relaxed) {
        let shown = match Snapshot::read(name) {
            Ok(s) if as_json => s.json(name).to_string(),
            Ok(s) => s.text(name),
            Err(EngineError::Ring(RingError::NoRing { .. })) if as_json => {
                json!({"name": name.as_str(), "state": "absent"}).to_string()
            }
            Err(EngineError::Ring(RingError::NoRing { .. })) => {
                format!("ring        {} (no such ring yet; waiting)", name.as_str())
            }
            Err(e) => return Err(e),
        };
        // On a terminal, redraw in place; elsewhere, one block (or JSON line) per interval.
        let frame = if terminal {
            format!("\x1b[H\x1b[2J{shown}")
        } else if as_json {
            shown
        } else {
            format!("{shown}\n")
        };
        output::println(&frame)?;
        let until = clock::monotonic_ns() + interval.as_nanos() as u64;
        while !stop.load(Ordering::Relaxed) && clock::monotonic_ns() < until {
            clock::sleep_until((clock::monotonic_ns() + 50_000_000).min(until));
        }
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
