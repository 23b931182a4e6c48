//! Liveness only the writer can assert: an open-file-description write lock
//! (`F_OFD_SETLK`, `F_WRLCK`) on the whole segment, held from creation to exit
//! (layout 1.3, `LAYOUT.md` §1).
//!
//! A write lock needs a descriptor open for writing, which only the segment's
//! owner can get: a reader of a `--group-readable` ring (mode 0640) can take a
//! shared `flock` or a read lock on it, but never this lock, so no reader can
//! make a dead engine look alive or a live one look dead. The kernel drops the
//! lock when the open file description goes, so when the engine dies, even on
//! `kill -9`. Asking is `F_OFD_GETLK`, which takes no lock at all: askers never
//! get in each other's or the writer's way. The engine also keeps the `flock`
//! of layouts 1.0–1.2, for readers of those versions.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;

use nix::fcntl::{fcntl, FcntlArg};

/// The first layout minor version whose writers hold the write lock.
pub const SINCE_MINOR: u16 = 3;

fn whole_file(kind: libc::c_int) -> libc::flock {
    // SAFETY: libc::flock is a plain C struct of integers; all-zero is valid.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = 0;
    lock.l_len = 0; // to the end of the file, however it grows
    lock
}

/// Takes the write lock on `file` (open read-write) without waiting. It lasts
/// until every descriptor of this open file description is closed.
pub fn hold(file: &File) -> io::Result<()> {
    fcntl(file.as_fd(), FcntlArg::F_OFD_SETLK(&whole_file(libc::F_WRLCK)))?;
    Ok(())
}

/// Whether some process holds the write lock on the file `file` is open on (any
/// descriptor, read-only included, can ask).
pub fn held(file: &File) -> io::Result<bool> {
    let mut probe = whole_file(libc::F_RDLCK);
    fcntl(file.as_fd(), FcntlArg::F_OFD_GETLK(&mut probe))?;
    // Only a write lock stops a read lock: any answer but "unlocked" is the writer's.
    Ok(i32::from(probe.l_type) == libc::F_WRLCK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::OpenOptionsExt;

    #[test]
    fn only_a_writable_descriptor_holds_the_lock_and_any_descriptor_sees_it() {
        let path = std::env::temp_dir().join(format!("v2m-writer-lock-{}", std::process::id()));
        let writer = File::options().read(true).write(true).create_new(true).mode(0o600).open(&path).unwrap();
        let reader = File::open(&path).unwrap();
        assert!(!held(&reader).unwrap());
        assert!(hold(&reader).is_err(), "a read-only descriptor cannot take a write lock");
        hold(&writer).unwrap();
        assert!(held(&reader).unwrap());
        let second = File::options().read(true).write(true).open(&path).unwrap();
        assert!(hold(&second).is_err(), "one writer at a time");
        drop(writer);
        assert!(!held(&reader).unwrap(), "closing the writer's descriptor drops the lock");
        std::fs::remove_file(path).unwrap();
    }
}
