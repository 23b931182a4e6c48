//! The Zenoh session a bridge opens: safe defaults, a user's file over them, the
//! command line's endpoints over both.
//!
//! The defaults keep microphone audio on this host: peer to peer, no multicast
//! scouting, listening on loopback only. Every bridge on a host tries the well-known
//! loopback port (the first takes it, the rest keep retrying in the background, so
//! one takes over when it goes) and connects to it; each also listens on a loopback
//! port of its own, and gossip tells the others about it, so the bridges of one host
//! find each other with no flags and talk directly. A `--config` file is merged over
//! these defaults key by key, so a file that only sets up TLS or authentication
//! does not open the LAN by accident; `--listen`/`--connect` replace the endpoints.

use std::path::Path;

use serde_json::{json, Value};

use crate::cli::SessionArgs;
use crate::error::BridgeError;

/// The loopback endpoint every bridge of a host meets at.
pub const MEETING_POINT: &str = "tcp/127.0.0.1:7447";

/// The settings the bridge starts from.
fn defaults() -> Value {
    let retry_forever = json!({ "period_init_ms": 250, "period_max_ms": 2000, "period_increase_factor": 2 });
    json!({
        "mode": "peer",
        "scouting": { "multicast": { "enabled": false }, "gossip": { "enabled": true } },
        "listen": {
            "endpoints": [MEETING_POINT, "tcp/127.0.0.1:0"],
            "timeout_ms": -1,
            "exit_on_failure": false,
            "retry": retry_forever,
        },
        "connect": {
            "endpoints": [MEETING_POINT],
            "timeout_ms": -1,
            "exit_on_failure": false,
            "retry": retry_forever,
        },
        // Frames go at priority RealTime with congestion control Drop. Zenoh's default
        // queue (2 batches, 1 ms before a drop) drops frames once a few dozen rings
        // share a link (bench/bridge_capacity.py: 34 of 41 592 at 32 rings); 16
        // batches and 5 ms carry 64 with none lost, and 5 ms is still far below a
        // ring's lag.
        "transport": { "link": { "tx": { "queue": {
            "size": { "real_time": 16 },
            "congestion_control": { "drop": { "wait_before_drop": 5000 } },
        } } } },
    })
}

/// The JSON the session is opened with (what `-v` prints).
pub fn settings(args: &SessionArgs) -> Result<Value, BridgeError> {
    let mut settings = defaults();
    if let Some(path) = &args.config {
        merge(&mut settings, read_file(path)?);
    }
    if !args.listen.is_empty() {
        settings["listen"]["endpoints"] = json!(args.listen);
    }
    if !args.connect.is_empty() {
        settings["connect"]["endpoints"] = json!(args.connect);
    }
    if !args.listen.is_empty() && args.connect.is_empty() && args.config.is_none() {
        // Asked to listen somewhere: the meeting point is not dialled as well.
        settings["connect"]["endpoints"] = json!([]);
    }
    Ok(settings)
}

/// Opens the session.
pub fn open(args: &SessionArgs) -> Result<zenoh::Session, BridgeError> {
    use zenoh::Wait;
    let settings = settings(args)?;
    log::debug!("zenoh settings: {settings}");
    let config = zenoh::Config::from_json5(&settings.to_string())
        .map_err(|e| BridgeError::Usage(format!("the Zenoh configuration is not valid: {e}")))?;
    zenoh::open(config).wait().map_err(|e| BridgeError::Network(format!("opening the Zenoh session: {e}")))
}

/// How long closing a session may take: Zenoh's close waits for its background
/// tasks (a listener or a connection still being retried), which can take longer
/// than a stop should.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Closes the session, waiting at most [`CLOSE_TIMEOUT`] (Zenoh's own limit, 10 s,
/// cannot be changed through its public API): the close runs on a thread of its
/// own, which the process's exit ends if it is still waiting.
pub fn close(session: zenoh::Session) {
    let (done, closed) = std::sync::mpsc::channel();
    let closing = std::thread::Builder::new().name("close".into()).spawn(move || {
        use zenoh::Wait;
        if let Err(e) = session.close().wait() {
            log::debug!("closing the Zenoh session: {e}");
        }
        let _ = done.send(());
    });
    if closing.is_ok() && closed.recv_timeout(CLOSE_TIMEOUT).is_err() {
        log::debug!("the Zenoh session did not close within {CLOSE_TIMEOUT:?}; leaving it");
    }
}

fn read_file(path: &Path) -> Result<Value, BridgeError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BridgeError::Usage(format!("cannot read the Zenoh configuration {}: {e}", path.display()))
    })?;
    json5::from_str::<Value>(&text)
        .map_err(|e| BridgeError::Usage(format!("{} is not JSON5: {e}", path.display())))
}

/// `over`'s keys replace `base`'s, objects merged key by key.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, over) => *base = over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_stay_on_this_host() {
        let settings = settings(&SessionArgs::default()).unwrap();
        assert_eq!(settings["scouting"]["multicast"]["enabled"], json!(false));
        for side in ["listen", "connect"] {
            for endpoint in settings[side]["endpoints"].as_array().unwrap() {
                assert!(endpoint.as_str().unwrap().starts_with("tcp/127.0.0.1:"), "{side} {endpoint}");
            }
        }
    }

    #[test]
    fn a_file_changes_only_what_it_says() {
        let dir = std::env::temp_dir().join(format!("v2m-bridge-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("auth.json5");
        std::fs::write(
            &file,
            "{ // user/password only\n transport: { auth: { usrpwd: { user: 'a', password: 'b' } } } }",
        )
        .unwrap();
        let args = SessionArgs { config: Some(file), ..SessionArgs::default() };
        let settings = settings(&args).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(settings["transport"]["auth"]["usrpwd"]["user"], json!("a"));
        assert_eq!(settings["scouting"]["multicast"]["enabled"], json!(false));
        assert_eq!(settings["listen"]["endpoints"][0], json!(MEETING_POINT));
        zenoh::Config::from_json5(&settings.to_string()).expect("zenoh accepts the merged settings");
    }

    #[test]
    fn endpoints_on_the_command_line_replace_the_defaults() {
        let args = SessionArgs { listen: vec!["udp/127.0.0.1:7500".into()], ..SessionArgs::default() };
        let settings = settings(&args).unwrap();
        assert_eq!(settings["listen"]["endpoints"], json!(["udp/127.0.0.1:7500"]));
        assert_eq!(settings["connect"]["endpoints"], json!([]));
    }
}
