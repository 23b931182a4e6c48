//! The capture devices that open, and finding one by name.

use std::fmt;
use std::str::FromStr;

use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{Device, HostId, SampleFormat};

use crate::error::EngineError;

/// The audio system devices are opened through (`--host`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AudioHost {
    /// ALSA, and through its plugins PulseAudio or PipeWire (`device:pulse`).
    #[default]
    Alsa,
    /// A PulseAudio (or pipewire-pulse) server, natively.
    PulseAudio,
    /// A PipeWire server, natively (built with the `pipewire` feature).
    PipeWire,
}

impl FromStr for AudioHost {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "alsa" => Ok(AudioHost::Alsa),
            "pulseaudio" | "pulse" => Ok(AudioHost::PulseAudio),
            "pipewire" => Ok(AudioHost::PipeWire),
            other => Err(format!("'{other}' is not an audio host; use alsa, pulseaudio or pipewire")),
        }
    }
}

impl AudioHost {
    /// Audio per device buffer when `--device-buffer-ms` is not given, ms.
    /// ALSA: 5, because cpal's ALSA thread spins on PulseAudio's ALSA plugin
    /// with 10 ms and more. PipeWire: 20, because on saturated cores PipeWire
    /// clients (the engine and pw-record alike) lose whole quanta, unreported,
    /// in most runs at 5 ms and rarely at 20 (`bench/pipewire_buffers.py`).
    pub fn default_period_ms(self) -> u32 {
        match self {
            AudioHost::Alsa | AudioHost::PulseAudio => 5,
            AudioHost::PipeWire => 20,
        }
    }
}

impl fmt::Display for AudioHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AudioHost::Alsa => "alsa",
            AudioHost::PulseAudio => "pulseaudio",
            AudioHost::PipeWire => "pipewire",
        })
    }
}

fn open_host(host: AudioHost) -> Result<cpal::Host, EngineError> {
    let id = match host {
        AudioHost::Alsa => {
            // Elsewhere alsa-sys links libasound the usual way.
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            super::libasound::load().map_err(EngineError::BadInput)?;
            HostId::Alsa
        }
        AudioHost::PulseAudio => HostId::PulseAudio,
        #[cfg(feature = "pipewire")]
        AudioHost::PipeWire => HostId::PipeWire,
        #[cfg(not(feature = "pipewire"))]
        AudioHost::PipeWire => {
            return Err(EngineError::BadInput(
                "this engine was built without the PipeWire host; rebuild with \
                 `cargo build --release --features pipewire` (needs libpipewire-0.3-dev and \
                 libclang-dev), or reach PipeWire through pipewire-pulse with --host pulseaudio \
                 (what --host auto picks then)"
                    .into(),
            ))
        }
    };
    cpal::host_from_id(id).map_err(|e| {
        EngineError::BadInput(format!(
            "the {host} audio host is not available ({e}); is a {host} server running for this \
             user? use --host alsa"
        ))
    })
}

/// A capture device that can be opened, with what it supports.
pub struct InputDevice {
    /// The cpal device.
    pub device: Device,
    /// The audio host it was found through.
    pub host: AudioHost,
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

/// Every input device of `host` that opens, in the host's order. Devices
/// that are listed but cannot be opened (no card behind them) are left out.
pub fn input_devices(host: AudioHost) -> Result<Vec<InputDevice>, EngineError> {
    let cpal_host = open_host(host)?;
    // Probing opens every PCM ALSA knows; plugins for absent servers (JACK,
    // OSS) print connection errors to stderr that mean nothing to our user.
    Ok(with_stderr_silenced(|| probe_input_devices(&cpal_host, host)))
}

fn probe_input_devices(cpal_host: &cpal::Host, host: AudioHost) -> Vec<InputDevice> {
    let default_id = cpal_host.default_input_device().and_then(|d| d.id().ok()).map(|id| id.to_string());
    let Ok(devices) = cpal_host.input_devices() else {
        return Vec::new();
    };
    devices.filter_map(|device| describe(device, host, default_id.as_deref())).collect()
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

fn describe(device: Device, host: AudioHost, default_id: Option<&str>) -> Option<InputDevice> {
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
        host,
    })
}

/// The default input device of `host`, if one opens.
pub fn default_device(host: AudioHost) -> Result<InputDevice, EngineError> {
    input_devices(host)?.into_iter().find(|d| d.is_default).ok_or_else(|| {
        EngineError::BadInput(
            "no default capture device could be opened; run `v2m-engine devices` to list devices, \
             or use --source device:NAME or file:PATH"
                .into(),
        )
    })
}

/// The one input device whose name or ALSA id contains `pattern`
/// (case-insensitive); an exact match wins over partial ones.
pub fn find_device(pattern: &str, host: AudioHost) -> Result<InputDevice, EngineError> {
    let pattern_lc = pattern.to_lowercase();
    let all = input_devices(host)?;
    let listing: Vec<String> = all.iter().map(InputDevice::label).collect();
    let mut candidates: Vec<InputDevice> = all.into_iter().filter(|d| d.matches(&pattern_lc)).collect();
    if let Some(exact) = candidates.iter().position(|d| d.matches_exactly(&pattern_lc)) {
        return Ok(candidates.swap_remove(exact));
    }
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => {
            let listing = if listing.is_empty() { "none".to_string() } else { listing.join(", ") };
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
