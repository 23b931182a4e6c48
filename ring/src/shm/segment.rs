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
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use memmap2::{MmapMut, MmapOptions};
use nix::errno::Errno;
use nix::fcntl::{posix_fallocate, Flock, FlockArg};

use super::inspect::{open_ring_file, still_names, writer_pid};
use super::name::RingName;
use super::stale;
use super::writer_lock;
use crate::error::RingError;

/// An open, locked, mapped segment owned by this engine.
pub struct Segment {
    name: RingName,
    map: MmapMut,
    /// The open segment with its liveness locks (the `flock` and the write
    /// lock, both on this open file description); held until drop.
    lock: Flock<File>,
}

impl Segment {
    /// Creates the segment for `name` with `size` bytes, lets `init` fill it
    /// while it is still private, then publishes it under its name.
    ///
    /// A segment left by a dead engine is removed first; one whose owner is
    /// alive makes this fail with [`RingError::InUse`].
    pub fn create(
        name: &RingName,
        size: u64,
        group_readable: bool,
        init: impl FnOnce(&mut [u8]),
    ) -> Result<Segment, RingError> {
        stale::sweep_dead_init_files();
        stale::remove_if_stale(name)?;
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
                let owner = open_ring_file(&name.path(), None).ok().flatten();
                Err(RingError::InUse {
                    name: name.as_str().into(),
                    pid: owner.map_or(0, |r| writer_pid(&r.file)),
                })
            }
            Err(e) => Err(RingError::system(format!("publishing {}", name.path().display()), e)),
        }
    }

    fn create_private(
        name: &RingName,
        private: &PathBuf,
        size: u64,
        group_readable: bool,
    ) -> Result<Segment, RingError> {
        let mode = if group_readable { 0o640 } else { 0o600 };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(private)
            .map_err(|e| RingError::system(format!("creating {}", private.display()), e))?;
        // The umask may have cleared bits we asked for; set them exactly.
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| RingError::system("setting the segment's mode", e))?;
        // Liveness for readers of layout 1.0-1.2 (a flock), and since 1.3 a write
        // lock, which no reader of a group-readable ring can take (writer_lock).
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, errno)| RingError::system("locking the new segment", errno))?;
        writer_lock::hold(&lock).map_err(|e| RingError::system("taking the new segment's write lock", e))?;
        // Reserve every page now: a full /dev/shm fails here with ENOSPC
        // instead of killing the engine with SIGBUS on a later store.
        posix_fallocate(&*lock, 0, size as libc::off_t).map_err(|errno| match errno {
            Errno::ENOSPC => RingError::system(
                format!(
                    "/dev/shm has no room for ring '{}' ({} MiB); free space there or use fewer --slots",
                    name.as_str(),
                    size.div_ceil(1 << 20)
                ),
                errno,
            ),
            _ => RingError::system("reserving the segment's pages", errno),
        })?;
        // SAFETY: the file is ours alone (created O_EXCL under a private
        // name, locked) and has exactly `size` bytes; nobody truncates it
        // while it is mapped, so every page of the mapping stays backed.
        let map = unsafe { MmapOptions::new().len(size as usize).populate().map_mut(&*lock) }
            .map_err(|e| RingError::system("mapping the segment", e))?;
        Ok(Segment { name: name.clone(), map, lock })
    }

    /// Base address of the mapping; page-aligned, valid while `self` lives.
    pub fn base(&self) -> *const u8 {
        self.map.as_ptr()
    }

    /// Removes the segment's name, if it is still ours. Readers that have it
    /// mapped keep reading; new readers get "no such ring". No one else can
    /// remove or replace our name while we hold its lock (see `stale`).
    pub fn unlink(&self) {
        let path = self.name.path();
        if still_names(&path, &self.lock) {
            let _ = std::fs::remove_file(path);
        }
    }
}
