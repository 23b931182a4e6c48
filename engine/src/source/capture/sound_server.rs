//! Which sound server this user's audio goes through, asked of the server's own
//! socket: the process that answers on the PulseAudio socket is PulseAudio or
//! pipewire-pulse, and a PipeWire socket is PipeWire. `--host auto` uses this
//! to avoid the one slow path measured here: cpal's ALSA thread spins (80–97 %
//! of a core) on the ALSA plugins of a PipeWire server.

use std::env;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    connect, getsockopt, socket, sockopt::PeerCredentials, AddressFamily, SockFlag, SockType, UnixAddr,
};

/// The sound server found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoundServer {
    /// PulseAudio itself.
    PulseAudio,
    /// PipeWire, with (`pulse: true`) or without pipewire-pulse.
    PipeWire { pulse: bool },
    /// None answered (a bare ALSA machine, or a server this cannot identify).
    Unknown,
}

impl SoundServer {
    /// Asks the sockets of this user's session (`PULSE_SERVER`, then
    /// `$XDG_RUNTIME_DIR/pulse/native`; `PIPEWIRE_REMOTE`, then `pipewire-0` in
    /// `$PIPEWIRE_RUNTIME_DIR` or `$XDG_RUNTIME_DIR`).
    pub fn detect() -> SoundServer {
        if let Some(name) = pulse_socket().and_then(|path| peer_program(&path)) {
            if name == "pulseaudio" {
                return SoundServer::PulseAudio;
            }
            if name.starts_with("pipewire") {
                return SoundServer::PipeWire { pulse: true };
            }
        }
        match pipewire_socket().and_then(|path| peer_program(&path)) {
            Some(name) if name.starts_with("pipewire") => SoundServer::PipeWire { pulse: false },
            _ => SoundServer::Unknown,
        }
    }
}

fn runtime_dir(variable: &str) -> Option<PathBuf> {
    env::var_os(variable).filter(|dir| !dir.is_empty()).map(PathBuf::from)
}

fn pulse_socket() -> Option<PathBuf> {
    match env::var("PULSE_SERVER") {
        // Only a local socket can be asked who serves it; `unix:` may be omitted.
        Ok(server) => {
            let path = server.strip_prefix("unix:").unwrap_or(&server);
            path.starts_with('/').then(|| PathBuf::from(path))
        }
        Err(_) => Some(runtime_dir("XDG_RUNTIME_DIR")?.join("pulse").join("native")),
    }
}

fn pipewire_socket() -> Option<PathBuf> {
    let name = env::var("PIPEWIRE_REMOTE").unwrap_or_else(|_| "pipewire-0".to_string());
    if name.starts_with('/') {
        return Some(PathBuf::from(name));
    }
    let dir = runtime_dir("PIPEWIRE_RUNTIME_DIR").or_else(|| runtime_dir("XDG_RUNTIME_DIR"))?;
    Some(dir.join(name))
}

/// The program name of the process listening on the Unix socket `path`, from
/// the kernel's record of the peer (SO_PEERCRED). Never blocks: the connection
/// is non-blocking, and a server too busy to accept it is simply not identified.
fn peer_program(path: &Path) -> Option<String> {
    let fd =
        socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)
            .ok()?;
    connect(fd.as_raw_fd(), &UnixAddr::new(path).ok()?).ok()?;
    let peer = getsockopt(&fd, PeerCredentials).ok()?;
    let comm = fs::read_to_string(format!("/proc/{}/comm", peer.pid())).ok()?;
    Some(comm.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    #[test]
    fn the_process_behind_a_socket_is_named() {
        let dir = std::env::temp_dir().join(format!("v2m-sound-server-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("native");
        let _listener = UnixListener::bind(&path).unwrap();
        let ours = fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(peer_program(&path).as_deref(), Some(ours.trim_end()));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_socket_names_no_one() {
        assert_eq!(peer_program(Path::new("/nonexistent/v2m/native")), None);
    }
}
