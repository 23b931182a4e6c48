//! Clearing what dead engines left behind, without ever removing a live
//! engine's ring.
//!
//! A ring whose engine died keeps its name until someone removes it; so does
//! the closed ring of an engine that is only lingering for late readers, which
//! a new engine of the same user may replace. Deciding is lock-free: the
//! writer's write lock (`writer_lock`) says whether its engine lives, and no
//! reader can fake or hide it. Removing is serialized: under the name's
//! removal lock (`removal`) an engine checks that the name still refers to the
//! very file it judged and only then unlinks it. Nothing can be linked at the
//! name while that file is there, so the name cannot change between the check
//! and the unlink: two engines racing for one name never delete each other's
//! live ring.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::inspect::{my_uid, open_ring_file, pid_alive, still_names, try_lock_exclusive, writer_pid};
use super::name::{init_file_pid, RingName, INIT_PREFIX, INIT_SUFFIX, REMOVAL_LOCK_SUFFIX, SHM_DIR};
use super::removal::RemovalLock;
use super::writer_lock;
use crate::error::RingError;

/// How long to keep trying when a layout-1.2 ring's `flock` is held by someone
/// who is not its (dead) engine: a reader testing liveness for a moment.
const CONTENDED_FOR: Duration = Duration::from_secs(3);

/// An unpublished segment whose creator holds no lock is left behind only if
/// its creator died (or is between creating and locking it, which takes
/// microseconds): it is removed once its creator is gone or it is this old.
const INIT_FILE_GRACE: Duration = Duration::from_secs(10);

/// Makes `name` free for this engine: removes a ring its dead engine left
/// there, or the closed ring of an engine that only lingers; [`RingError::InUse`]
/// if a live engine runs it; an error naming anything else that is in the way.
pub fn remove_if_stale(name: &RingName) -> Result<(), RingError> {
    let path = name.path();
    let started = Instant::now();
    loop {
        let Some(ring) = open_ring_file(&path, Some(my_uid()))? else {
            return Ok(());
        };
        let pid = writer_pid(&ring.file);
        let closed = ring.state() == v2m_layout::STATE_CLOSED;
        if ring.writer_alive()? && !closed {
            // A 1.2 engine's flock may be a reader's, testing it for a moment.
            let believed = ring.minor >= writer_lock::SINCE_MINOR || pid_alive(pid);
            if believed || started.elapsed() > CONTENDED_FOR {
                return Err(RingError::InUse { name: name.as_str().into(), pid });
            }
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let removal = RemovalLock::take(name)?;
        if still_names(&path, &ring.file) {
            test_hook_pause_before_unlink();
            if closed && pid_alive(pid) {
                log::info!("replacing ring '{}': its engine (pid {pid}) has finished", name.as_str());
            } else {
                log::info!("removing stale ring '{}' left by dead engine pid {pid}", name.as_str());
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(RingError::system(format!("removing stale {}", path.display()), e)),
            }
        }
        drop(removal);
        // Look again: another engine may have published its ring meanwhile.
    }
}

/// A hook for the test that forces two engines to race for one stale ring:
/// with `V2M_TEST_PAUSE_BEFORE_STALE_UNLINK_MS` set, the engine pauses for
/// that long between deciding a ring is stale and removing it.
fn test_hook_pause_before_unlink() {
    if let Some(ms) = std::env::var("V2M_TEST_PAUSE_BEFORE_STALE_UNLINK_MS").ok().and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Removes this user's unpublished segments (`/dev/shm/.v2m-NAME.PID.init`)
/// whose creator died during start-up, and removal lock files
/// (`.v2m-NAME.lock`) whose engine died while removing a ring; returns how many. A creator holds its
/// file's exclusive lock from the moment it is created, so a file nobody
/// locks whose creator is gone (or that is older than a start-up takes) is
/// garbage; the same lock-then-check-then-unlink rule as for rings applies.
pub fn sweep_dead_init_files() -> usize {
    let Ok(entries) = std::fs::read_dir(SHM_DIR) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else { continue };
        if !file_name.starts_with(INIT_PREFIX) {
            continue;
        }
        let path = entry.path();
        if file_name.ends_with(INIT_SUFFIX) {
            if remove_dead_init_file(&path, init_file_pid(file_name)).unwrap_or(false) {
                log::info!(
                    "removed {}, left unfinished by an engine that died while starting",
                    path.display()
                );
                removed += 1;
            }
        } else if file_name.ends_with(REMOVAL_LOCK_SUFFIX) && remove_unheld(&path).unwrap_or(false) {
            removed += 1;
        }
    }
    removed
}

/// Removes a removal lock file nobody holds (its engine died while removing a
/// ring): the same lock-then-check-then-unlink rule.
fn remove_unheld(path: &Path) -> std::io::Result<bool> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() || meta.uid() != my_uid() || !try_lock_exclusive(&file).unwrap_or(false) {
        return Ok(false);
    }
    if !still_names(path, &file) {
        return Ok(false);
    }
    std::fs::remove_file(path)?;
    Ok(true)
}

fn remove_dead_init_file(path: &Path, creator: Option<u32>) -> std::io::Result<bool> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() || meta.uid() != my_uid() {
        return Ok(false);
    }
    let age = meta.modified().ok().and_then(|m| SystemTime::now().duration_since(m).ok()).unwrap_or_default();
    let creator_gone = creator.is_none_or(|pid| !pid_alive(pid)) || age > INIT_FILE_GRACE;
    if !creator_gone || !try_lock_exclusive(&file).unwrap_or(false) || !still_names(path, &file) {
        return Ok(false);
    }
    std::fs::remove_file(path)?;
    Ok(true)
}
