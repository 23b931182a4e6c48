//! Looking at whatever sits at a ring's name without trusting it: opened with
//! `O_NOFOLLOW | O_NONBLOCK` (a symbolic link cannot redirect the open, a FIFO
//! cannot block it), then checked by `fstat` and a small read of its magic.
//! Anything that is not a v2m ring of the expected user is reported by what
//! it is, never followed, read further, or removed.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::errno::Errno;

use super::writer_lock;
use crate::error::RingError;

/// A regular file that starts with the v2m magic, open read-only.
pub struct RingFile {
    /// The open file (the inode we checked, whatever the name points to later).
    pub file: File,
    /// Its size in bytes.
    pub len: u64,
    /// Its owner.
    pub uid: u32,
    /// The layout minor version its header records (its writer's liveness lock
    /// depends on it).
    pub minor: u16,
}

impl RingFile {
    /// Whether the ring's engine is alive: it holds the write lock (layout 1.3 on),
    /// or the exclusive `flock` (engines of layouts 1.0–1.2).
    pub fn writer_alive(&self) -> Result<bool, RingError> {
        if self.minor >= writer_lock::SINCE_MINOR {
            return writer_lock::held(&self.file)
                .map_err(|e| RingError::system("testing the ring's write lock", e));
        }
        flock_held(&self.file)
    }

    /// The header, validated: everything this layout defines that the file holds.
    pub fn header(&self, name: &str) -> Result<v2m_layout::HeaderInfo, RingError> {
        let mut bytes = vec![0u8; v2m_layout::HEADER_DEFINED.min(self.len as usize)];
        self.file.read_exact_at(&mut bytes, 0).map_err(|e| RingError::system("reading the header", e))?;
        v2m_layout::HeaderInfo::parse(&bytes, self.len)
            .map_err(|error| RingError::Layout { name: name.into(), error })
    }

    /// The `state` field of the header (`STATE_*`); closed if it cannot be read.
    pub fn state(&self) -> u32 {
        let mut state = [0u8; 4];
        let offset = std::mem::offset_of!(v2m_layout::Header, state) as u64;
        match self.file.read_exact_at(&mut state, offset) {
            Ok(()) => u32::from_le_bytes(state),
            Err(_) => v2m_layout::STATE_CLOSED,
        }
    }
}

/// Opens what is at `path` as a ring file; `Ok(None)` if nothing is there.
///
/// `owner`: the uid the file must belong to, or `None` for any (reading
/// someone's group-readable ring with `status` is fine; removing or reusing
/// it never is).
pub fn open_ring_file(path: &Path, owner: Option<u32>) -> Result<Option<RingFile>, RingError> {
    let in_the_way = |what: String| RingError::InTheWay { path: path.display().to_string(), what };
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(match e.raw_os_error().map(Errno::from_raw) {
                Some(Errno::ELOOP) => in_the_way("is a symbolic link, not a ring".into()),
                Some(Errno::ENXIO) => in_the_way("is a socket, not a ring".into()),
                Some(Errno::EACCES) | Some(Errno::EPERM) => {
                    in_the_way("belongs to another user and cannot be read".into())
                }
                _ => RingError::system(format!("opening {}", path.display()), e),
            })
        }
    };
    let meta = file.metadata().map_err(|e| RingError::system(format!("inspecting {}", path.display()), e))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "not a regular file"
        };
        return Err(in_the_way(format!("is {what}, not a ring")));
    }
    if let Some(uid) = owner {
        if meta.uid() != uid {
            return Err(in_the_way(format!("belongs to uid {}, not to this engine's uid {uid}", meta.uid())));
        }
    }
    let mut identity = [0u8; 12]; // magic, major, minor
    let has_magic = file.read_exact_at(&mut identity, 0).is_ok() && identity[..8] == v2m_layout::MAGIC;
    if !has_magic {
        return Err(in_the_way("is not a v2m ring (it does not start with the ring's magic)".into()));
    }
    let minor = u16::from_le_bytes([identity[10], identity[11]]);
    Ok(Some(RingFile { file, len: meta.len(), uid: meta.uid(), minor }))
}

/// How `status` and `list` name a ring's state: `closed`, `running`, `starting`,
/// or `stale` (its engine died without closing it).
pub fn state_name(state: u32, writer_alive: bool) -> &'static str {
    match (state, writer_alive) {
        (v2m_layout::STATE_CLOSED, _) => "closed",
        (_, false) => "stale",
        (v2m_layout::STATE_RUNNING, true) => "running",
        _ => "starting",
    }
}

/// This process's effective uid.
pub fn my_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Whether a process holds the file's exclusive `flock`, tested with a
/// non-blocking *shared* lock so concurrent testers never fail each other: the
/// liveness of a pacing reader's cursor file, and of an engine of layout 1.0–1.2.
pub fn flock_held(file: &File) -> Result<bool, RingError> {
    // SAFETY: flock only takes a descriptor we own for the call's duration.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if rc == 0 {
        // SAFETY: as above; we release the lock we just took.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
        return Ok(false);
    }
    match Errno::last() {
        Errno::EWOULDBLOCK => Ok(true),
        errno => Err(RingError::system("testing the ring's lock", errno)),
    }
}

/// Takes the file's exclusive lock without waiting; false if anyone holds
/// any lock on it. The lock lasts until the file is closed.
pub fn try_lock_exclusive(file: &File) -> Result<bool, RingError> {
    // SAFETY: flock only takes a descriptor we own for the call's duration.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    match Errno::last() {
        Errno::EWOULDBLOCK => Ok(false),
        errno => Err(RingError::system("locking the stale ring", errno)),
    }
}

/// The writer pid a ring file's header records.
pub fn writer_pid(file: &File) -> u32 {
    let mut pid = [0u8; 4];
    let offset = std::mem::offset_of!(v2m_layout::Header, writer_pid) as u64;
    file.read_exact_at(&mut pid, offset).map(|_| u32::from_le_bytes(pid)).unwrap_or(0)
}

/// Whether a process with this pid exists (it may belong to another user).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(errno) => errno == Errno::EPERM,
    }
}

/// Whether `path` still names the inode `file` has open (no link followed).
pub fn still_names(path: &Path, file: &File) -> bool {
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(on_disk), Ok(open)) => on_disk.ino() == open.ino() && on_disk.dev() == open.dev(),
        _ => false,
    }
}
