//! Reader cursors, for `--pace-to-readers`: a finite source replayed only as fast as
//! the readers that asked to hold it back can read it.
//!
//! Such a reader keeps a 64-byte file of its own, `/dev/shm/.v2m-NAME.cursor.PID.N`
//! (`LAYOUT.md` §11): magic `V2MCURS\0`, the ring's generation, and the index of the
//! oldest frame it still needs, and holds the file's exclusive lock while it lives.
//! Before publishing frame `i`, which overwrites frame `i − slots`, the engine waits
//! until every live cursor of its generation is past `i − slots`. Readers never
//! write the ring; the engine only reads these files.
//!
//! A reader publishes its cursor complete and locked in one step (it links a
//! finished temporary file into place), and the engine learns of new cursor
//! files through inotify before every overwrite, so a reader that attaches
//! while another one paces the replay is held to from the moment its cursor
//! exists. Where inotify is not available the directory is scanned again every
//! 20 ms instead.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::inspect::{flock_held, my_uid, still_names};
use super::name::{RingName, SHM_DIR};
use crate::clock;

/// The first eight bytes of a cursor file.
pub const CURSOR_MAGIC: [u8; 8] = *b"V2MCURS\0";
/// How often the cursor files are looked for again without inotify.
const RESCAN_NS: u64 = 20_000_000;
/// How long the engine sleeps between looks at the cursors while held back.
const POLL: Duration = Duration::from_micros(500);

/// The pacing readers of one ring.
pub struct PacingReaders {
    prefix: String,
    generation: u64,
    cursors: Vec<(PathBuf, File)>,
    /// New files in the shared-memory directory; None: rescan on a timer.
    arrivals: Option<Inotify>,
    scanned_ns: u64,
    told_waiting: bool,
}

impl PacingReaders {
    /// The pacing readers of ring `name` (generation `generation`).
    pub fn new(name: &RingName, generation: u64) -> PacingReaders {
        let arrivals = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok().filter(|inotify| {
            inotify.add_watch(SHM_DIR, AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO).is_ok()
        });
        let mut readers = PacingReaders {
            prefix: format!(".v2m-{}.cursor.", name.as_str()),
            generation,
            cursors: Vec::new(),
            arrivals,
            scanned_ns: 0,
            told_waiting: false,
        };
        readers.rescan(); // the cursors made before the watch
        readers
    }

    /// Returns once publishing frame `index` into a ring of `slots` slots overwrites
    /// nothing a pacing reader still needs (or `stop` is raised). With no pacing
    /// reader attached, the ring is filled once and then held.
    pub fn wait_for_room(&mut self, index: u64, slots: u64, stop: &AtomicBool) {
        let Some(overwritten) = index.checked_sub(slots) else {
            return; // the ring is not full yet
        };
        while !stop.load(Ordering::Relaxed) {
            self.look_for_new_cursors();
            match self.oldest_needed() {
                Some(oldest) if oldest > overwritten => {
                    self.told_waiting = false;
                    return;
                }
                None if !self.told_waiting => {
                    log::info!("--pace-to-readers: the ring is full and no pacing reader is attached; waiting for one");
                    self.told_waiting = true;
                }
                _ => {}
            }
            std::thread::sleep(POLL);
        }
    }

    /// The oldest frame any live pacing reader still needs; None if there is none.
    fn oldest_needed(&mut self) -> Option<u64> {
        let generation = self.generation;
        let mut oldest: Option<u64> = None;
        self.cursors.retain(|(path, file)| {
            let mut record = [0u8; 24];
            let readable = file.read_exact_at(&mut record, 0).is_ok()
                && record[..8] == CURSOR_MAGIC
                && u64::from_le_bytes(record[8..16].try_into().expect("8 bytes")) == generation;
            if !readable || !flock_held(file).unwrap_or(false) {
                // A reader that died (or another ring's): its file goes.
                if still_names(path, file) {
                    let _ = std::fs::remove_file(path);
                }
                return false;
            }
            let needed = u64::from_le_bytes(record[16..24].try_into().expect("8 bytes"));
            oldest = Some(oldest.map_or(needed, |o| o.min(needed)));
            true
        });
        oldest
    }

    /// Opens the cursor files that appeared since the last look: those inotify
    /// reported (every one linked before this call), or all of a rescan.
    fn look_for_new_cursors(&mut self) {
        let Some(arrivals) = &self.arrivals else {
            if clock::monotonic_ns() - self.scanned_ns > RESCAN_NS {
                self.rescan();
            }
            return;
        };
        let mut names = Vec::new();
        let mut overflowed = false;
        while let Ok(events) = arrivals.read_events() {
            if events.is_empty() {
                break;
            }
            for event in events {
                overflowed |= event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW);
                names.extend(event.name);
            }
        }
        if overflowed {
            self.rescan();
        }
        for name in names {
            self.consider(Path::new(SHM_DIR).join(name));
        }
    }

    /// Opens every cursor file of this ring in the directory.
    fn rescan(&mut self) {
        self.scanned_ns = clock::monotonic_ns();
        let Ok(entries) = std::fs::read_dir(SHM_DIR) else { return };
        for entry in entries.flatten() {
            self.consider(entry.path());
        }
    }

    /// Opens `path` if it is a cursor file of this ring not yet known: only this
    /// user's regular files may hold the engine back.
    fn consider(&mut self, path: PathBuf) {
        let ours = path.file_name().and_then(OsStr::to_str).is_some_and(|n| n.starts_with(&self.prefix));
        if !ours || self.cursors.iter().any(|(known, _)| *known == path) {
            return;
        }
        let Ok(file) = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
        else {
            return;
        };
        match file.metadata() {
            Ok(meta) if meta.file_type().is_file() && meta.uid() == my_uid() && meta.len() >= 24 => {
                self.cursors.push((path, file));
            }
            _ => {}
        }
    }
}
