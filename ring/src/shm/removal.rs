//! The lock engines take before they remove or replace whatever is at a ring's
//! name, so that two engines starting at once never delete each other's ring.
//!
//! It cannot be a lock on the old ring itself: a reader of a group-readable
//! ring holds a read-only descriptor, and every lock such a descriptor can take
//! (a shared `flock`, an `F_RDLCK`) would block an exclusive one. So the
//! engines of one user meet at a file only they can open:
//! `/dev/shm/.v2m-NAME.lock`, mode 0600, created on demand and removed by the
//! engine that took it. After locking it, an engine checks that the name still
//! refers to the file it locked (a previous holder may have removed it since
//! it was opened) and starts over if not, so at most one engine holds the lock
//! of a name at any time.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::inspect::{my_uid, still_names};
use super::name::RingName;
use crate::error::RingError;

/// How long an engine waits for another engine of its user removing the same
/// ring (which takes microseconds) before it gives up.
const WAIT_FOR: Duration = Duration::from_secs(3);

/// The removal lock of one name, held until dropped; dropping it removes the file.
pub struct RemovalLock {
    path: PathBuf,
    lock: Flock<File>,
}

impl RemovalLock {
    /// Takes the removal lock of `name`, waiting up to three seconds for another
    /// engine that holds it.
    pub fn take(name: &RingName) -> Result<RemovalLock, RingError> {
        let path = name.removal_lock_path();
        let started = Instant::now();
        loop {
            let file = open(&path)?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) if still_names(&path, &lock) => return Ok(RemovalLock { path, lock }),
                Ok(_) => {} // removed by the previous holder since we opened it
                Err((_, Errno::EWOULDBLOCK)) if started.elapsed() < WAIT_FOR => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((_, Errno::EWOULDBLOCK)) => {
                    return Err(RingError::InTheWay {
                        path: path.display().to_string(),
                        what: format!(
                            "is held by another engine removing ring '{}' for over {} s",
                            name.as_str(),
                            WAIT_FOR.as_secs()
                        ),
                    })
                }
                Err((_, errno)) => return Err(RingError::system("locking the removal lock", errno)),
            }
        }
    }
}

impl Drop for RemovalLock {
    fn drop(&mut self) {
        // Removed while still locked: whoever opened it meanwhile sees it gone.
        if still_names(&self.path, &self.lock) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Opens (creating, mode 0600) the lock file; anything but this user's regular
/// file at its path is reported, never used.
fn open(path: &PathBuf) -> Result<File, RingError> {
    let in_the_way = |what: &str| RingError::InTheWay { path: path.display().to_string(), what: what.into() };
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error().map(Errno::from_raw) {
            Some(Errno::ELOOP) => in_the_way("is a symbolic link, not an engine's lock file"),
            Some(Errno::EACCES) | Some(Errno::EPERM) => in_the_way("belongs to another user"),
            _ if e.kind() == ErrorKind::IsADirectory => in_the_way("is a directory"),
            _ => RingError::system(format!("opening {}", path.display()), e),
        })?;
    let meta = file.metadata().map_err(|e| RingError::system(format!("inspecting {}", path.display()), e))?;
    if !meta.file_type().is_file() {
        return Err(in_the_way("is not a regular file"));
    }
    if meta.uid() != my_uid() {
        return Err(in_the_way(&format!(
            "belongs to uid {}, not to this engine's uid {}",
            meta.uid(),
            my_uid()
        )));
    }
    Ok(file)
}
