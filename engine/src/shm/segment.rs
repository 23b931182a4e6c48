//! The ring's segment file: created private, published atomically under its
//! name, locked for as long as the engine lives, unlinked on clean shutdown.
//!
//! Why not the `shared_memory` crate: it maps read-write only, cannot publish a
//! fully initialised segment atomically, and offers no liveness lock. The
//! segment is a file on the /dev/shm tmpfs (exactly what `shm_open` creates),
//! so plain file calls give us all three: `link(2)` for an atomic, exclusive
//! publish, `flock(2)` for liveness, `posix_fallocate(3)` for an early, clean
//! "no room" error.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use memmap2::{MmapMut, MmapOptions};
use nix::errno::Errno;
use nix::fcntl::{posix_fallocate, Flock, FlockArg};

use crate::error::EngineError;
use crate::log;

/// Where POSIX shared memory lives on Linux.
pub const SHM_DIR: &str = "/dev/shm";

/// A validated ring name: the segment is `/dev/shm/v2m-NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingName(String);

impl RingName {
    /// Accepts 1–64 characters of `A–Z a–z 0–9 . _ -`, not starting with a dot.
    pub fn parse(name: &str) -> Result<RingName, String> {
        let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if name.is_empty() || name.len() > 64 || !ok_chars || name.starts_with('.') {
            return Err(format!(
                "ring name '{name}' must be 1-64 characters of letters, digits, '.', '_' or '-', not starting with '.'"
            ));
        }
        Ok(RingName(name.to_string()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `/dev/shm/v2m-NAME`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("{SHM_DIR}/v2m-{}", self.0))
    }

    /// The private name the segment is built under before it is published.
    /// It starts with a dot so `v2m-*` globs never see a half-built ring.
    fn private_path(&self) -> PathBuf {
        PathBuf::from(format!("{SHM_DIR}/.v2m-{}.{}.init", self.0, std::process::id()))
    }
}

/// An open, locked, mapped segment owned by this engine.
pub struct Segment {
    name: RingName,
    map: MmapMut,
    /// The exclusive lock readers test for liveness; held until drop.
    lock: Flock<File>,
}

impl Segment {
    /// Creates the segment for `name` with `size` bytes, lets `init` fill it
    /// while it is still private, then publishes it under its name.
    ///
    /// A segment left by a dead engine is removed first; one whose owner is
    /// alive makes this fail with [`EngineError::InUse`].
    pub fn create(
        name: &RingName,
        size: u64,
        group_readable: bool,
        init: impl FnOnce(&mut [u8]),
    ) -> Result<Segment, EngineError> {
        remove_if_stale(name)?;
        let private = name.private_path();
        let mut segment = Self::create_private(name, &private, size, group_readable).inspect_err(|_| {
            let _ = std::fs::remove_file(&private);
        })?;
        init(&mut segment.map);
        let published = std::fs::hard_link(&private, name.path());
        let _ = std::fs::remove_file(&private);
        match published {
            Ok(()) => Ok(segment),
            // Another engine published the same name between our stale check
            // and now: it owns the name.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                Err(EngineError::InUse { name: name.as_str().into(), pid: owner_pid(name) })
            }
            Err(e) => Err(EngineError::system(format!("publishing {}", name.path().display()), e)),
        }
    }

    fn create_private(
        name: &RingName,
        private: &PathBuf,
        size: u64,
        group_readable: bool,
    ) -> Result<Segment, EngineError> {
        let mode = if group_readable { 0o640 } else { 0o600 };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(private)
            .map_err(|e| EngineError::system(format!("creating {}", private.display()), e))?;
        // The umask may have cleared bits we asked for; set them exactly.
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| EngineError::system("setting the segment's mode", e))?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, errno)| EngineError::system("locking the new segment", errno))?;
        // Reserve every page now: a full /dev/shm fails here with ENOSPC
        // instead of killing the engine with SIGBUS on a later store.
        posix_fallocate(&*lock, 0, size as libc::off_t).map_err(|errno| match errno {
            Errno::ENOSPC => EngineError::system(
                format!(
                    "/dev/shm has no room for ring '{}' ({} MiB); free space there or use fewer --slots",
                    name.as_str(),
                    size.div_ceil(1 << 20)
                ),
                errno,
            ),
            _ => EngineError::system("reserving the segment's pages", errno),
        })?;
        // SAFETY: the file is ours alone (created O_EXCL under a private
        // name, locked) and has exactly `size` bytes; nobody truncates it
        // while it is mapped, so every page of the mapping stays backed.
        let map = unsafe { MmapOptions::new().len(size as usize).populate().map_mut(&*lock) }
            .map_err(|e| EngineError::system("mapping the segment", e))?;
        Ok(Segment { name: name.clone(), map, lock })
    }

    /// Base address of the mapping; page-aligned, valid while `self` lives.
    pub fn base(&self) -> *const u8 {
        self.map.as_ptr()
    }

    /// Removes the segment's name, if it is still ours. Readers that have it
    /// mapped keep reading; new readers get "no such ring".
    pub fn unlink(&self) {
        let path = self.name.path();
        let ours = match (std::fs::metadata(&path), self.lock.metadata()) {
            (Ok(on_disk), Ok(mine)) => on_disk.ino() == mine.ino() && on_disk.dev() == mine.dev(),
            _ => false,
        };
        if ours {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Whether a process holds the segment's exclusive lock, tested with a
/// non-blocking *shared* lock so concurrent testers never fail each other.
pub fn owner_alive(file: &File) -> Result<bool, EngineError> {
    // SAFETY: flock only takes a descriptor we own for the call's duration.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if rc == 0 {
        // SAFETY: as above; we release the lock we just took.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
        return Ok(false);
    }
    match Errno::last() {
        Errno::EWOULDBLOCK => Ok(true),
        errno => Err(EngineError::system("testing the ring's lock", errno)),
    }
}

/// The writer pid recorded in a published segment's header, 0 if unreadable.
fn owner_pid(name: &RingName) -> u32 {
    let mut pid = [0u8; 4];
    File::open(name.path())
        .and_then(|f| f.read_exact_at(&mut pid, 24))
        .map(|_| u32::from_le_bytes(pid))
        .unwrap_or(0)
}

/// Removes a segment whose engine died without unlinking it; refuses if its
/// engine is alive.
fn remove_if_stale(name: &RingName) -> Result<(), EngineError> {
    let path = name.path();
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(EngineError::system(format!("opening {}", path.display()), e)),
    };
    if owner_alive(&file)? {
        return Err(EngineError::InUse { name: name.as_str().into(), pid: owner_pid(name) });
    }
    log::info!("removing stale ring '{}' left by dead engine pid {}", name.as_str(), owner_pid(name));
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(EngineError::system(format!("removing stale {}", path.display()), e)),
    }
}
