//! `v2m-engine list`: every ring on this machine and its state, what dead engines
//! left behind, and (`--clean`) their removal.

use serde_json::{json, Value};

use super::output;
use super::status::origin_json;
use crate::error::EngineError;
use v2m_ring::shm::inspect::{my_uid, open_ring_file, state_name};
use v2m_ring::shm::name::{init_file_pid, RingName, INIT_PREFIX, INIT_SUFFIX, SHM_DIR};
use v2m_ring::shm::stale;
use v2m_ring::RingError;

/// One entry of the listing.
struct Entry {
    name: String,
    state: String,
    detail: Value,
}

/// Lists rings (and unfinished segments) as text or JSON; with `clean`, first
/// removes this user's stale rings and dead engines' unfinished segments.
pub fn list(as_json: bool, clean: bool) -> Result<(), EngineError> {
    if clean {
        let unfinished = stale::sweep_dead_init_files();
        let mut rings = 0;
        for entry in entries() {
            if entry.state == "stale" && entry.detail["uid"] == json!(my_uid()) {
                if let Ok(name) = RingName::parse(&entry.name) {
                    if stale::remove_if_stale(&name).is_ok() {
                        rings += 1;
                    }
                }
            }
        }
        crate::log::info!("removed {rings} stale ring(s) and {unfinished} unfinished segment(s)");
    }
    let all = entries();
    if as_json {
        let list: Vec<Value> = all
            .iter()
            .map(|e| {
                let mut doc = e.detail.clone();
                doc["name"] = json!(e.name);
                doc["state"] = json!(e.state);
                doc
            })
            .collect();
        return output::println(&Value::Array(list).to_string());
    }
    if all.is_empty() {
        return output::println("no rings");
    }
    let lines: Vec<String> =
        all.iter().map(|e| format!("{:<24} {:<11} {}", e.name, e.state, describe(e))).collect();
    output::println(&lines.join("\n"))
}

fn describe(e: &Entry) -> String {
    let d = &e.detail;
    match e.state.as_str() {
        "unfinished" => format!("{} (creator pid {})", d["path"].as_str().unwrap_or(""), d["pid"]),
        "in the way" => d["error"].as_str().unwrap_or("").to_string(),
        _ => format!(
            "pid {} uid {}, {} Hz, {}-sample frames, {} frames, vad {}, source {}{}",
            d["pid"],
            d["uid"],
            d["sample_rate"],
            d["frame_samples"],
            d["frames_written"],
            d["vad"].as_str().unwrap_or(""),
            d["source"].as_str().unwrap_or(""),
            match d["origin"]["kind"].as_str() {
                Some("engine") | None => String::new(),
                Some(_) => format!(", {}", d["origin_text"].as_str().unwrap_or("")),
            }
        ),
    }
}

fn entries() -> Vec<Entry> {
    let Ok(dir) = std::fs::read_dir(SHM_DIR) else { return Vec::new() };
    let mut names: Vec<String> =
        dir.flatten().filter_map(|e| e.file_name().to_str().map(str::to_string)).collect();
    names.sort();
    let mut out = Vec::new();
    for file_name in names {
        if let Some(name) = file_name.strip_prefix("v2m-") {
            out.push(ring_entry(name));
        } else if file_name.starts_with(INIT_PREFIX) && file_name.ends_with(INIT_SUFFIX) {
            let pid = init_file_pid(&file_name);
            out.push(Entry {
                name: file_name.trim_start_matches(INIT_PREFIX).to_string(),
                state: "unfinished".into(),
                detail: json!({"path": format!("{SHM_DIR}/{file_name}"), "pid": pid}),
            });
        }
    }
    out
}

fn ring_entry(name: &str) -> Entry {
    let path = std::path::PathBuf::from(format!("{SHM_DIR}/v2m-{name}"));
    let in_the_way = |error: String| Entry {
        name: name.into(),
        state: "in the way".into(),
        detail: json!({"path": path.display().to_string(), "error": error}),
    };
    let ring = match open_ring_file(&path, None) {
        Ok(Some(ring)) => ring,
        Ok(None) => return in_the_way("vanished while listing".into()),
        Err(e) => return in_the_way(e.to_string()),
    };
    let info = match ring.header(name) {
        Ok(info) => info,
        Err(RingError::Layout { error, .. }) => return in_the_way(error.to_string()),
        Err(_) => return in_the_way("unreadable".into()),
    };
    let alive = ring.writer_alive().unwrap_or(false);
    let state = state_name(info.state, alive);
    let g = &info.config.geometry;
    Entry {
        name: name.into(),
        state: state.into(),
        detail: json!({
            "path": path.display().to_string(), "uid": ring.uid, "pid": info.writer_pid,
            "generation": info.generation, "alive": alive, "source": info.config.source,
            "sample_rate": g.sample_rate, "frame_samples": g.frame_samples, "slots": g.slot_count,
            "frames_written": info.write_seq, "vad": info.config.vad.kind.name(),
            "origin": origin_json(&info), "origin_text": info.config.origin.describe(),
        }),
    }
}
