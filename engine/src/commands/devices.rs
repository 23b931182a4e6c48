//! `v2m-engine devices`: every capture device that opens, one a line (or JSON),
//! the default marked.

use serde_json::json;

use super::output;
use crate::error::EngineError;
use crate::source::capture::devices::{input_devices, InputDevice};
use crate::source::capture::host_choice::HostChoice;

/// Prints the devices of `host` as text or JSON.
pub fn devices(as_json: bool, host: HostChoice) -> Result<(), EngineError> {
    let devices = input_devices(host.resolve())?;
    if as_json {
        let list: Vec<_> = devices.iter().map(device_json).collect();
        return output::println(&serde_json::Value::Array(list).to_string());
    }
    if devices.is_empty() {
        return output::println("no capture devices");
    }
    let lines: Vec<String> = devices.iter().map(device_line).collect();
    output::println(&lines.join("\n"))
}

fn formats(d: &InputDevice) -> Vec<String> {
    d.formats.iter().map(|f| f.to_string()).collect()
}

fn device_json(d: &InputDevice) -> serde_json::Value {
    json!({
        "name": d.name, "id": d.id, "default": d.is_default,
        "channels": [d.channels.0, d.channels.1], "rates": [d.rates.0, d.rates.1],
        "formats": formats(d),
    })
}

fn device_line(d: &InputDevice) -> String {
    format!(
        "{} {} [{}]  {}-{} Hz, {}-{} channels, {}",
        if d.is_default { "*" } else { " " },
        d.name,
        d.id,
        d.rates.0,
        d.rates.1,
        d.channels.0,
        d.channels.1,
        formats(d).join(" ")
    )
}
