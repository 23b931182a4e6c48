//! Clearing what dead engines left behind, without ever removing a live
//! engine's ring.
//!
//! A ring whose engine died keeps its name until someone removes it. Every
//! engine that removes one first takes the file's *exclusive* lock (which no
//! one can hold while its engine lives, and which no second remover can take
//! at the same time), checks under that lock that the name still refers to
//! that very file, and only then unlinks it. Nothing can be linked at the name
//! while the stale file is there, so the name cannot change between the check
//! and the unlink: two engines racing for one name can never delete each
//! other's live ring.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::inspect::{
    my_uid, open_ring_file, owner_alive, pid_alive, still_names, try_lock_exclusive, writer_pid,
};
use super::name::{init_file_pid, RingName, INIT_PREFIX, INIT_SUFFIX, SHM_DIR};
use crate::error::EngineError;
use crate::log;

/// How long to keep trying when the stale ring's lock is held by someone who
/// is not its (dead) engine: a reader testing liveness, or another engine
/// removing it at the same moment.
const CONTENDED_FOR: Duration = Duration::from_secs(3);

/// An unpublished segment whose creator holds no lock is left behind only if
/// its creator died (or is between creating and locking it, which takes
/// microseconds): it is removed once its creator is gone or it is this old.
const INIT_FILE_GRACE: Duration = Duration::from_secs(10);

/// Makes `name` free for this engine: removes a ring its dead engine left
/// there; [`EngineError::InUse`] if a live engine owns it; an error naming
/// anything else that is in the way.
pub fn remove_if_stale(name: &RingName) -> Result<(), EngineError> {
    let path = name.path();
    let started = Instant::now();
    loop {
        let Some(ring) = open_ring_file(&path, Some(my_uid()))? else {
            return Ok(());
        };
        let pid = writer_pid(&ring.file);
        if try_lock_exclusive(&ring.file)? {
            if still_names(&path, &ring.file) {
                test_hook_pause_before_unlink();
                log::info!("removing stale ring '{}' left by dead engine pid {pid}", name.as_str());
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(EngineError::system(format!("removing stale {}", path.display()), e))
                    }
                }
            }
            continue; // look again: something new may be there now
        }
        // Locked. By its engine (alive: refuse), or by a reader or another
        // remover for a moment (its engine is dead: wait and look again).
        if owner_alive(&ring.file)? && pid_alive(pid) || started.elapsed() > CONTENDED_FOR {
            return Err(EngineError::InUse { name: name.as_str().into(), pid });
        }
        std::thread::sleep(Duration::from_millis(2));
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
/// whose creator died during start-up; returns how many. A creator holds its
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
        if !(file_name.starts_with(INIT_PREFIX) && file_name.ends_with(INIT_SUFFIX)) {
            continue;
        }
        let path = entry.path();
        if remove_dead_init_file(&path, init_file_pid(file_name)).unwrap_or(false) {
            log::info!("removed {}, left unfinished by an engine that died while starting", path.display());
            removed += 1;
        }
    }
    removed
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
