//! A reader of whole frames, in Rust: the ring mapped read-only, each frame taken
//! under its slot's seqlock (`v2m_layout::seqlock::read_slot`, the function the
//! loom model runs), every frame either returned untorn or counted lost exactly
//! once, waiting in `FUTEX_WAIT` with a timeout so a dead engine is noticed
//! (`LAYOUT.md` §6, §8). The same protocol as the Python reader.
//!
//! Whatever sits at the ring's name is opened without trust
//! ([`crate::shm::inspect::open_ring_file`]) and its header validated before
//! anything is mapped; a reader never stores into the ring.

use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use memmap2::{Mmap, MmapOptions};
use v2m_layout::seqlock::{self, FrameRecord};
use v2m_layout::{Header, HeaderInfo, SlotMeta, SlotSamples, STATE_CLOSED, STATE_STARTING};

use crate::error::RingError;
use crate::shm::inspect::{my_uid, open_ring_file, RingFile};
use crate::shm::{futex, RingName};

/// Where a new reader begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// With the next frame published.
    Latest,
    /// With the oldest frame still in the ring.
    Oldest,
}

/// What [`RingReader::read`] found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    /// A frame, its samples in the caller's buffer.
    Frame(FrameRecord),
    /// Nothing new within the timeout.
    Timeout,
    /// The ring is closed and every frame was read.
    Closed,
    /// The engine died without closing the ring.
    WriterGone,
}

/// How long a wait sleeps before asking whether the engine is still alive.
const LIVENESS_INTERVAL: Duration = Duration::from_millis(250);

/// A read-only mapping of one ring and this reader's place in it.
pub struct RingReader {
    ring: RingFile,
    map: Mmap,
    info: HeaderInfo,
    next: u64,
    dropped: u64,
    start_index: u64,
}

impl RingReader {
    /// Attaches to ring `name` of this user if it exists, runs (or is closed) and its
    /// engine lives: [`RingError::NoRing`] if nothing is there, an error naming what is
    /// there otherwise.
    pub fn open(name: &RingName, start: Start) -> Result<RingReader, RingError> {
        let path = name.path();
        let ring = open_ring_file(&path, Some(my_uid()))?
            .ok_or_else(|| RingError::NoRing { name: name.as_str().into() })?;
        let info = ring.header(name.as_str())?;
        // SAFETY: the header was validated against the file's size, so every section
        // it locates lies inside this mapping; the mapping is read-only and shared,
        // and the engine never truncates a ring it has published.
        let map = unsafe { MmapOptions::new().len(ring.len as usize).map(&ring.file) }
            .map_err(|e| RingError::system("mapping the ring", e))?;
        let mut reader = RingReader { ring, map, info, next: 0, dropped: 0, start_index: 0 };
        let published = reader.published();
        let first = reader.info.config.first_index;
        reader.start_index = match start {
            Start::Latest => published,
            Start::Oldest => {
                published.saturating_sub(u64::from(reader.info.config.geometry.slot_count)).max(first)
            }
        };
        reader.next = reader.start_index;
        Ok(reader)
    }

    /// [`Self::open`], waiting up to `timeout` (or until `stop` is raised) for the ring
    /// to appear, run, and have a live engine: a ring left by a dead engine is waited
    /// out, since the next engine under the name replaces it. `Ok(None)` on a timeout.
    pub fn wait_open(
        name: &RingName,
        start: Start,
        timeout: Duration,
        stop: &AtomicBool,
    ) -> Result<Option<RingReader>, RingError> {
        let deadline = Instant::now() + timeout;
        loop {
            match RingReader::open(name, start) {
                Ok(reader) if reader.ready() => return Ok(Some(reader)),
                Ok(_) | Err(RingError::NoRing { .. }) => {}
                Err(error) => return Err(error),
            }
            if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Running with a live engine, or closed (a finished ring stays readable).
    fn ready(&self) -> bool {
        match self.header().state.load(Ordering::Acquire) {
            STATE_STARTING => false,
            STATE_CLOSED => true,
            _ => self.writer_alive(),
        }
    }

    /// The ring's validated header, as it was when the reader attached.
    pub fn info(&self) -> &HeaderInfo {
        &self.info
    }

    /// Frames this reader lost (the writer overwrote them before they were read).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The index of the frame the next read returns.
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// The index the reader began at.
    pub fn start_index(&self) -> u64 {
        self.start_index
    }

    /// Whether the engine still holds the ring's liveness lock.
    pub fn writer_alive(&self) -> bool {
        self.ring.writer_alive().unwrap_or(false)
    }

    /// The generation the ring's name refers to now (None: nothing, or not a ring):
    /// another than [`HeaderInfo::generation`] means the ring was replaced.
    pub fn generation_at_name(name: &RingName) -> Option<u64> {
        let ring = open_ring_file(&name.path(), Some(my_uid())).ok()??;
        let mut bytes = [0u8; 8];
        let offset = std::mem::offset_of!(Header, generation) as u64;
        ring.file.read_exact_at(&mut bytes, offset).ok().map(|_| u64::from_le_bytes(bytes))
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with the validated header (at least HEADER_USED
        // bytes, the whole 4096 of a 1.x writer's segment being page-aligned), the
        // mapping is page-aligned, and the reader only loads through this reference.
        unsafe { &*self.map.as_ptr().cast::<Header>() }
    }

    fn published(&self) -> u64 {
        seqlock::published(&self.header().write_seq)
    }

    fn slot(&self, slot: usize) -> (&SlotMeta, Option<&SlotSamples>, &[AtomicU32]) {
        let g = &self.info.config.geometry;
        let base = self.map.as_ptr();
        // SAFETY: slot < slot_count and the validated header places every slot's
        // record and samples inside the mapping, 64-byte aligned (meta_offset and
        // samples_offset are multiples of 64, meta_stride of 8); atomics make the loads
        // of memory the writer stores into concurrently well-defined; nothing stores.
        unsafe {
            let meta = &*base.add(g.meta_at(slot) as usize).cast::<SlotMeta>();
            let early = g.samples_record_at(slot).filter(|_| self.info.version >= (1, 2));
            let early = early.map(|at| &*base.add(at as usize).cast::<SlotSamples>());
            let samples = std::slice::from_raw_parts(
                base.add(g.samples_at(slot) as usize).cast::<AtomicU32>(),
                g.samples_per_frame(),
            );
            (meta, early, samples)
        }
    }

    /// The next frame into `out` (`samples_per_frame` long), waiting up to `timeout`.
    pub fn read(&mut self, out: &mut [f32], timeout: Duration) -> Next {
        let deadline = Instant::now() + timeout;
        let slots = u64::from(self.info.config.geometry.slot_count);
        loop {
            // The futex word before the count (LAYOUT.md §8): a publish after this load
            // changes the word, so the wait below returns at once and nothing is missed.
            let word = self.header().futex.load(Ordering::Acquire);
            let published = self.published();
            if self.next < published {
                if published - self.next > slots {
                    self.dropped += published - slots - self.next; // lapped
                    self.next = published - slots;
                }
                let index = self.next;
                self.next += 1;
                let (meta, early, samples) = self.slot(self.info.config.geometry.slot_of(index));
                match seqlock::read_slot(meta, early, samples, index, out) {
                    Some(record) => return Next::Frame(record),
                    None => {
                        self.dropped += 1;
                        continue;
                    }
                }
            }
            if self.header().state.load(Ordering::Acquire) == STATE_CLOSED {
                if self.published() > self.next {
                    continue; // the last frames came just before the close
                }
                return Next::Closed;
            }
            let now = Instant::now();
            if now >= deadline {
                return Next::Timeout;
            }
            let wait = (deadline - now).min(LIVENESS_INTERVAL);
            futex::wait(&self.header().futex, word, wait);
            if self.header().futex.load(Ordering::Acquire) == word && !self.writer_alive() {
                return Next::WriterGone;
            }
        }
    }
}
