//! `--host`: a named audio host, or `auto`, which picks the host that costs
//! least on the sound server this user runs (measured by `bench/engine.py`):
//!
//! | sound server | alsa               | pulseaudio | pipewire |
//! |--------------|--------------------|------------|----------|
//! | PulseAudio   | 2.9–4.9 % (chosen) | 8.0–8.8 %  | –        |
//! | PipeWire     | 80–97 % (spins)    | 8.5–10.5 % | 0.5–2.7 % (chosen when built in) |
//! | none         | chosen             | –          | –        |

use std::fmt;
use std::str::FromStr;

use super::devices::AudioHost;
use super::sound_server::SoundServer;
use crate::log;

/// What `--host` asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HostChoice {
    /// The host that suits the running sound server.
    #[default]
    Auto,
    /// This host.
    Named(AudioHost),
}

/// Whether this engine was built with cpal's PipeWire host.
const PIPEWIRE_BUILT_IN: bool = cfg!(feature = "pipewire");

impl HostChoice {
    /// The host to open devices through; `auto` says in one log line what it
    /// found and chose, and an explicit ALSA on PipeWire is warned about.
    pub fn resolve(self) -> AudioHost {
        match self {
            HostChoice::Named(host) => {
                if host == AudioHost::Alsa {
                    warn_of_alsa_on_pipewire(SoundServer::detect());
                }
                host
            }
            HostChoice::Auto => {
                let server = SoundServer::detect();
                let (host, why) = auto_host(server, PIPEWIRE_BUILT_IN);
                log::info!("audio host {host} ({why})");
                host
            }
        }
    }
}

/// ALSA on a PipeWire server spins; says so when this engine has a better way in.
fn warn_of_alsa_on_pipewire(server: SoundServer) {
    let (better, _) = auto_host(server, PIPEWIRE_BUILT_IN);
    if matches!(server, SoundServer::PipeWire { .. }) && better != AudioHost::Alsa {
        log::warning!(
            "capturing through ALSA from a PipeWire server: cpal's capture thread spins on \
             its ALSA plugins (80-97 % of a core measured); --host {better} avoids it"
        );
    }
}

/// The host `auto` picks for `server`, and why.
fn auto_host(server: SoundServer, pipewire_built_in: bool) -> (AudioHost, &'static str) {
    match server {
        SoundServer::PulseAudio => {
            (AudioHost::Alsa, "PulseAudio runs: its ALSA plugin is the cheapest way in")
        }
        SoundServer::PipeWire { .. } if pipewire_built_in => (AudioHost::PipeWire, "PipeWire runs"),
        SoundServer::PipeWire { pulse: true } => (
            AudioHost::PulseAudio,
            "PipeWire runs, and this engine was built without its native host: through pipewire-pulse",
        ),
        SoundServer::PipeWire { pulse: false } => (
            AudioHost::Alsa,
            "PipeWire runs without pipewire-pulse, and this engine was built without its native host",
        ),
        SoundServer::Unknown => (AudioHost::Alsa, "no sound server answered"),
    }
}

impl FromStr for HostChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(HostChoice::Auto),
            named => named.parse().map(HostChoice::Named).map_err(|_| {
                format!("'{named}' is not an audio host; use auto, alsa, pulseaudio or pipewire")
            }),
        }
    }
}

impl fmt::Display for HostChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostChoice::Auto => f.write_str("auto"),
            HostChoice::Named(host) => host.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_keeps_alsa_for_pulseaudio_and_bare_machines() {
        for built_in in [false, true] {
            assert_eq!(auto_host(SoundServer::PulseAudio, built_in).0, AudioHost::Alsa);
            assert_eq!(auto_host(SoundServer::Unknown, built_in).0, AudioHost::Alsa);
        }
    }

    #[test]
    fn auto_leaves_alsa_on_pipewire() {
        for pulse in [false, true] {
            assert_eq!(auto_host(SoundServer::PipeWire { pulse }, true).0, AudioHost::PipeWire);
        }
        assert_eq!(auto_host(SoundServer::PipeWire { pulse: true }, false).0, AudioHost::PulseAudio);
        assert_eq!(auto_host(SoundServer::PipeWire { pulse: false }, false).0, AudioHost::Alsa);
    }

    #[test]
    fn choices_parse_and_print_alike() {
        for text in ["auto", "alsa", "pulseaudio", "pipewire"] {
            assert_eq!(text.parse::<HostChoice>().unwrap().to_string(), text);
        }
        let error = "jack".parse::<HostChoice>().unwrap_err();
        assert!(error.contains("auto, alsa, pulseaudio or pipewire"), "{error}");
    }
}
