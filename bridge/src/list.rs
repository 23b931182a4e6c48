//! `v2m-bridge list`: the publishers alive under a key expression (their
//! liveliness tokens), with what each one's configuration says.

use serde_json::{json, Value};
use zenoh::Wait;

use crate::cli::ListArgs;
use crate::error::{network, BridgeError};
use crate::wire::SourceConfig;
use crate::{keys, session};

/// Prints the publishers, one line (or one JSON object) each.
pub fn run(args: &ListArgs) -> Result<(), BridgeError> {
    let zenoh = session::open(&args.session)?;
    let tokens = zenoh
        .liveliness()
        .get(args.key.clone())
        .timeout(args.timeout)
        .wait()
        .map_err(network("asking who is alive"))?;
    let mut keys_alive: Vec<String> = Vec::new();
    while let Ok(reply) = tokens.recv() {
        if let Ok(sample) = reply.result() {
            keys_alive.push(sample.key_expr().as_str().to_owned());
        }
    }
    keys_alive.sort();
    keys_alive.dedup();
    let mut rows: Vec<Value> = Vec::new();
    for key in keys_alive {
        let config =
            zenoh.get(keys::config_key(&key)).timeout(args.timeout).wait().ok().and_then(|replies| {
                let reply = replies.recv().ok()?;
                SourceConfig::from_json(&reply.result().ok()?.payload().to_bytes()).ok()
            });
        rows.push(match config {
            Some((source, next_index)) => {
                let g = source.config.geometry;
                json!({
                    "key": key, "host": source.host, "ring": source.ring, "generation": source.generation,
                    "next_index": next_index, "sample_rate": g.sample_rate, "channels": g.channels,
                    "frame_samples": g.frame_samples, "slot_count": g.slot_count, "source": source.config.source,
                })
            }
            None => json!({ "key": key }),
        });
    }
    session::close(zenoh);
    if args.json {
        println!("{}", Value::Array(rows));
        return Ok(());
    }
    if rows.is_empty() {
        println!("no publisher alive under {}", args.key);
    }
    for row in rows {
        match row.get("ring") {
            Some(_) => println!(
                "{}  {}/{}  {} Hz  {} × {}  frame {}  {}",
                row["key"].as_str().unwrap_or_default(),
                row["host"].as_str().unwrap_or_default(),
                row["ring"].as_str().unwrap_or_default(),
                row["sample_rate"],
                row["channels"],
                row["frame_samples"],
                row["next_index"],
                row["source"].as_str().unwrap_or_default()
            ),
            None => println!("{}  (waiting for its ring)", row["key"].as_str().unwrap_or_default()),
        }
    }
    Ok(())
}
