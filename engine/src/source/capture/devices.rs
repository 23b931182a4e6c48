//! The capture devices that open, and finding one by name.

use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{Device, SampleFormat};

use crate::error::EngineError;

/// A capture device that can be opened, with what it supports.
pub struct InputDevice {
    /// The cpal device.
    pub device: Device,
    /// Human-readable name (the ALSA hint's description).
    pub name: String,
    /// The ALSA PCM name (`default`, `hw:CARD=0,DEV=0`, …).
    pub id: String,
    /// Whether this is the host's default input.
    pub is_default: bool,
    /// Channel counts, lowest and highest.
    pub channels: (u16, u16),
    /// Sample rates, lowest and highest, Hz.
    pub rates: (u32, u32),
    /// Sample formats offered.
    pub formats: Vec<SampleFormat>,
}

impl InputDevice {
    fn matches(&self, pattern: &str) -> bool {
        self.name.to_lowercase().contains(pattern) || self.id.to_lowercase().contains(pattern)
    }

    fn matches_exactly(&self, pattern: &str) -> bool {
        self.name.to_lowercase() == pattern || self.id.to_lowercase() == pattern
    }

    fn label(&self) -> String {
        format!("'{}' ({})", self.name, self.id)
    }
}

/// Every input device that opens, in the host's order. Devices that are
/// listed but cannot be opened (no card behind them) are left out.
pub fn input_devices() -> Vec<InputDevice> {
    // Probing opens every PCM ALSA knows; plugins for absent servers (JACK,
    // OSS) print connection errors to stderr that mean nothing to our user.
    with_stderr_silenced(probe_input_devices)
}

fn probe_input_devices() -> Vec<InputDevice> {
    let host = cpal::default_host();
    let default_id = host.default_input_device().and_then(|d| d.id().ok()).map(|id| id.to_string());
    let Ok(devices) = host.input_devices() else {
        return Vec::new();
    };
    devices.filter_map(|device| describe(device, default_id.as_deref())).collect()
}

/// Runs `f` with file descriptor 2 pointed at /dev/null, then restores it.
fn with_stderr_silenced<T>(f: impl FnOnce() -> T) -> T {
    use std::os::fd::AsRawFd;
    let saved = nix::unistd::dup(std::io::stderr());
    let null = std::fs::OpenOptions::new().write(true).open("/dev/null");
    let silenced = match (&saved, &null) {
        // SAFETY: dup2 onto fd 2 only redirects where stderr writes go; both
        // descriptors are open for the duration of the call.
        (Ok(_), Ok(null)) => (unsafe { libc::dup2(null.as_raw_fd(), 2) }) == 2,
        _ => false,
    };
    let result = f();
    if let (true, Ok(saved)) = (silenced, &saved) {
        // SAFETY: restores the original stderr, still open in `saved`.
        unsafe { libc::dup2(saved.as_raw_fd(), 2) };
    }
    result
}

fn describe(device: Device, default_id: Option<&str>) -> Option<InputDevice> {
    let ranges: Vec<_> = device.supported_input_configs().ok()?.collect();
    if ranges.is_empty() {
        return None;
    }
    let id = device.id().ok()?.to_string();
    let name = device.description().map(|d| d.name().to_string()).unwrap_or_else(|_| id.clone());
    let mut formats: Vec<SampleFormat> = Vec::new();
    for r in &ranges {
        if !formats.contains(&r.sample_format()) {
            formats.push(r.sample_format());
        }
    }
    Some(InputDevice {
        is_default: Some(id.as_str()) == default_id,
        channels: (ranges.iter().map(|r| r.channels()).min()?, ranges.iter().map(|r| r.channels()).max()?),
        rates: (
            ranges.iter().map(|r| r.min_sample_rate()).min()?,
            ranges.iter().map(|r| r.max_sample_rate()).max()?,
        ),
        formats,
        name,
        id: id.trim_start_matches("alsa:").to_string(),
        device,
    })
}

/// The default input device, if one opens.
pub fn default_device() -> Result<InputDevice, EngineError> {
    input_devices().into_iter().find(|d| d.is_default).ok_or_else(|| {
        EngineError::BadInput(
            "no default capture device could be opened; run `v2m-engine devices` to list devices, \
             or use --source device:NAME or file:PATH"
                .into(),
        )
    })
}

/// The one input device whose name or ALSA id contains `pattern`
/// (case-insensitive); an exact match wins over partial ones.
pub fn find_device(pattern: &str) -> Result<InputDevice, EngineError> {
    let pattern_lc = pattern.to_lowercase();
    let mut candidates: Vec<InputDevice> =
        input_devices().into_iter().filter(|d| d.matches(&pattern_lc)).collect();
    if let Some(exact) = candidates.iter().position(|d| d.matches_exactly(&pattern_lc)) {
        return Ok(candidates.swap_remove(exact));
    }
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => {
            let all: Vec<String> = input_devices().iter().map(InputDevice::label).collect();
            let listing = if all.is_empty() { "none".to_string() } else { all.join(", ") };
            Err(EngineError::BadInput(format!(
                "no capture device named '{pattern}'; devices: {listing}; run `v2m-engine devices` for details"
            )))
        }
        _ => {
            let names: Vec<String> = candidates.iter().map(InputDevice::label).collect();
            Err(EngineError::BadInput(format!(
                "'{pattern}' matches several capture devices: {}; give more of the name",
                names.join(", ")
            )))
        }
    }
}
