//! Publishes frames into the ring: the only code that stores into it.
//!
//! Guarantees: `publish` is wait-free (a bounded number of stores plus one
//! `FUTEX_WAKE`), never allocates, and never waits for a reader; when the ring
//! is full it overwrites the oldest slot. Readers can never observe a torn
//! frame as complete (seqlock per slot, see `layout/LAYOUT.md`).

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use v2m_layout::seqlock::{self, FrameRecord, VadPending};
use v2m_layout::{
    Geometry, Header, RingConfig, SlotMeta, SlotSamples, FLAG_DISCONTINUITY, STATE_CLOSED, STATE_RUNNING,
};

use crate::clock;
use crate::error::RingError;
use crate::shm::{futex, RingName, Segment};

/// The ring's single writer (not `Sync`: one thread publishes).
pub struct RingWriter {
    segment: Segment,
    geometry: Geometry,
    next_index: Cell<u64>,
    closed: bool,
}

/// A frame whose samples [`RingWriter::publish_samples`] published; only
/// [`RingWriter::publish_vad`] consumes it (the seqlock's own guard, which a
/// frame cannot be completed twice or without its samples through).
#[must_use = "the frame is complete only after publish_vad"]
pub struct SamplesPublished<'a> {
    vad: VadPending<'a>,
    flags: u32,
}

impl RingWriter {
    /// Creates and publishes the ring `name`, in state running; mode 0640
    /// instead of 0600 when `group_readable`.
    pub fn create(
        name: &RingName,
        config: &RingConfig,
        group_readable: bool,
    ) -> Result<RingWriter, RingError> {
        let g = config.geometry;
        let segment = Segment::create(name, g.total_size, group_readable, |bytes| {
            // SAFETY: `bytes` is the whole private, page-aligned mapping, at
            // least HEADER_SIZE long, and nothing else references it yet.
            let header = unsafe { &mut *bytes.as_mut_ptr().cast::<Header>() };
            fill_header(header, config);
        })?;
        Ok(RingWriter { segment, geometry: g, next_index: Cell::new(config.first_index), closed: false })
    }

    /// The header, shared with readers.
    pub fn header(&self) -> &Header {
        // SAFETY: the mapping is page-aligned and at least HEADER_SIZE bytes;
        // after publication the writer only touches the header's atomic
        // fields through this shared reference, and readers never write.
        unsafe { &*self.segment.base().cast::<Header>() }
    }

    /// The ring's format and section offsets.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The index the next published frame gets.
    pub fn next_index(&self) -> u64 {
        self.next_index.get()
    }

    /// Moves on to frame `index` (not below [`Self::next_index`]): the frames in
    /// between are never published, a gap readers count as lost (their slots keep
    /// older frames, whose stamps do not show them), and the caller flags the next
    /// frame `FLAG_DISCONTINUITY`. A mirror skips the frames the network lost.
    pub fn skip_to(&self, index: u64) {
        debug_assert!(index >= self.next_index.get());
        self.next_index.set(index.max(self.next_index.get()));
    }

    fn slot_meta(&self, slot: usize) -> &SlotMeta {
        // SAFETY: slot < slot_count, so the record lies inside the mapping
        // (Geometry::new placed it there) at a 64-byte aligned offset.
        unsafe { &*self.segment.base().add(self.geometry.meta_at(slot) as usize).cast::<SlotMeta>() }
    }

    fn slot_early(&self, slot: usize) -> &SlotSamples {
        let offset = self.geometry.samples_record_at(slot).expect("this writer's stride holds the record");
        // SAFETY: Geometry::new made meta_stride SLOT_RECORD_SIZE, so the
        // samples record lies inside the mapping, 64-byte aligned, right
        // after the slot's SlotMeta.
        unsafe { &*self.segment.base().add(offset as usize).cast::<SlotSamples>() }
    }

    fn slot_samples(&self, slot: usize) -> &[AtomicU32] {
        // SAFETY: the slot's samples lie inside the mapping, 64-byte aligned;
        // AtomicU32 has the size and alignment of f32, so the float samples
        // can be stored as their bits. Atomics make the concurrent reads by
        // other processes well-defined.
        unsafe {
            std::slice::from_raw_parts(
                self.segment.base().add(self.geometry.samples_at(slot) as usize).cast::<AtomicU32>(),
                self.geometry.samples_per_frame(),
            )
        }
    }

    /// Publishes one frame of `samples_per_frame()` samples with its VAD
    /// result in one go ([`Self::publish_samples`] then [`Self::publish_vad`])
    /// and returns its index (a mirror's frames arrive with their VAD result).
    pub fn publish(&mut self, samples: &[f32], record: &FrameRecord) -> u64 {
        let frame = self.publish_samples(samples, record);
        self.publish_vad(frame, record.vad_prob, record.speech)
    }

    /// Phase 1: publishes the next frame's samples and what is known before
    /// its VAD ([`seqlock::write_samples`], then `sample_seq` (Release) →
    /// `sample_futex` → `FUTEX_WAKE`). The writer assigns `record`'s index and
    /// times; its VAD fields are not read. The returned frame goes to
    /// [`Self::publish_vad`], which must come before the next `publish_samples`.
    pub fn publish_samples(&self, samples: &[f32], record: &FrameRecord) -> SamplesPublished<'_> {
        debug_assert_eq!(samples.len(), self.geometry.samples_per_frame());
        let index = self.next_index.get();
        let slot = self.geometry.slot_of(index);
        let record = FrameRecord { index, samples_ns: clock::monotonic_ns(), ..*record };
        let vad = seqlock::write_samples(
            self.slot_meta(slot),
            self.slot_early(slot),
            self.slot_samples(slot),
            samples,
            &record,
        );
        let header = self.header();
        seqlock::announce(&header.sample_seq, index);
        header.sample_futex.fetch_add(1, Ordering::Release);
        futex::wake_all(&header.sample_futex);
        self.next_index.set(index + 1);
        SamplesPublished { vad, flags: record.flags }
    }

    /// Phase 2: completes the frame [`Self::publish_samples`] began with its
    /// VAD result ([`seqlock::VadPending::complete`], then `write_seq`
    /// (Release) → futex word → `FUTEX_WAKE`) and returns its index.
    pub fn publish_vad(&self, frame: SamplesPublished<'_>, vad_prob: f32, speech: bool) -> u64 {
        let SamplesPublished { vad, flags } = frame;
        let index = vad.index();
        let publish_ns = clock::monotonic_ns();
        vad.complete(publish_ns, vad_prob, speech);
        let header = self.header();
        if flags & FLAG_DISCONTINUITY != 0 {
            header.stats.discontinuities.fetch_add(1, Ordering::Relaxed);
        }
        header.stats.last_publish_ns.store(publish_ns, Ordering::Relaxed);
        seqlock::announce(&header.write_seq, index);
        header.futex.fetch_add(1, Ordering::Release);
        futex::wake_all(&header.futex);
        index
    }

    /// Records the source host's CLOCK_REALTIME − CLOCK_MONOTONIC (a mirror's, as
    /// its publisher reports it).
    pub fn set_source_clock_offset(&self, offset_ns: i64) {
        self.header().source_clock_offset_ns.store(offset_ns as u64, Ordering::Relaxed);
    }

    /// Adds to a statistics counter.
    pub fn count(&self, counter: impl Fn(&v2m_layout::Stats) -> &AtomicU64, n: u64) {
        counter(&self.header().stats).fetch_add(n, Ordering::Relaxed);
    }

    /// Records one VAD call of `ns` nanoseconds.
    pub fn record_vad_time(&self, ns: u64) {
        let stats = &self.header().stats;
        stats.vad_ns_total.fetch_add(ns, Ordering::Relaxed);
        stats.vad_ns_max.fetch_max(ns, Ordering::Relaxed);
        stats.vad_frames.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks the ring closed and wakes every reader; no frame follows.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        let header = self.header();
        // Release: readers that see CLOSED also see the final write_seq.
        header.state.store(STATE_CLOSED, Ordering::Release);
        for word in [&header.futex, &header.sample_futex] {
            word.fetch_add(1, Ordering::Release);
            futex::wake_all(word);
        }
        self.closed = true;
    }
}

impl RingWriter {
    /// Leaves the ring as a writer that died would, not closed: its name goes and
    /// its liveness lock is released, so readers learn the writer is gone and
    /// reattaching ones move to the next ring under the name. A mirror does this
    /// when its source's engine died and another took its place.
    pub fn abandon(mut self) {
        self.closed = true; // not CLOSED: readers must not take it for the end
    }
}

impl Drop for RingWriter {
    /// Whatever ends the engine, readers learn the ring closed and the name
    /// is not left behind.
    fn drop(&mut self) {
        self.close();
        self.segment.unlink();
    }
}

fn fill_header(h: &mut Header, config: &RingConfig) {
    h.set_identity();
    h.generation = new_generation();
    h.writer_pid = std::process::id();
    h.created_mono_ns = clock::monotonic_ns();
    h.created_real_ns = clock::realtime_ns();
    h.set_config(config);
    // A mirror replaces this with its source's (set_source_clock_offset).
    // The offset from the creation stamps, as readers derive it from an older header.
    let own_offset = h.created_real_ns as i64 - h.created_mono_ns as i64;
    h.source_clock_offset_ns.store(own_offset as u64, Ordering::Relaxed);
    // The segment becomes visible under its name only after this, so readers
    // never see STARTING from this writer; they still handle it.
    h.state.store(STATE_RUNNING, Ordering::Relaxed);
}

/// A random id for this engine start, from the kernel's entropy pool.
fn new_generation() -> u64 {
    let mut bytes = [0u8; 8];
    let from_kernel =
        std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    match from_kernel {
        Ok(()) => u64::from_le_bytes(bytes) | 1,
        // Unique enough without entropy: the start time and pid.
        Err(_) => clock::realtime_ns() ^ (u64::from(std::process::id()) << 40) | 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::os::unix::fs::FileExt;
    use v2m_layout::{stamp_complete, HeaderInfo, VadConfig, VadKind, FLAG_PADDED};

    fn config(slots: u32) -> RingConfig {
        RingConfig {
            geometry: Geometry::new(16_000, 1, 4, slots).unwrap(),
            vad: VadConfig {
                kind: VadKind::Energy,
                threshold: 0.5,
                neg_threshold: 0.35,
                min_silence_ms: 100,
                channel: None,
            },
            source_speed: 1.0,
            source: "tone:440".into(),
            first_index: 0,
            origin: Default::default(),
        }
    }

    fn name(test: &str) -> RingName {
        RingName::parse(&format!("unit-{test}-{}", std::process::id())).unwrap()
    }

    /// Reads the whole segment back through the file, as another process would.
    fn snapshot(name: &RingName) -> Vec<u8> {
        std::fs::read(name.path()).unwrap()
    }

    fn u64_at(b: &[u8], off: u64) -> u64 {
        u64::from_le_bytes(b[off as usize..off as usize + 8].try_into().unwrap())
    }

    #[test]
    fn published_frames_are_complete_stamped_and_counted() {
        let name = name("publish");
        let mut writer = RingWriter::create(&name, &config(4), false).unwrap();
        let g = config(4).geometry;
        for i in 0..6u64 {
            let samples = [i as f32, 0.5, -0.5, 1.0];
            let flags = if i == 5 { FLAG_PADDED } else { 0 };
            assert_eq!(
                writer.publish(
                    &samples,
                    &FrameRecord {
                        capture_ns: 100 + i,
                        flags,
                        valid_samples: 4,
                        arrival_ns: 200 + i,
                        ..Default::default()
                    }
                ),
                i
            );
        }
        let bytes = snapshot(&name);
        let info = HeaderInfo::parse(&bytes, bytes.len() as u64).unwrap();
        assert_eq!(info.write_seq, 6);
        assert_eq!(info.state, STATE_RUNNING);
        assert_eq!(info.writer_pid, std::process::id());
        // Frames 2..5 are in the ring; 0 and 1 were overwritten by 4 and 5.
        for i in 2..6u64 {
            let slot = g.slot_of(i);
            let meta = g.meta_at(slot);
            assert_eq!(u64_at(&bytes, meta), stamp_complete(i));
            assert_eq!(u64_at(&bytes, meta + 8), i);
            assert_eq!(u64_at(&bytes, meta + 16), 100 + i);
            assert_eq!(u64_at(&bytes, meta + 56), 200 + i);
            let first = g.samples_at(slot) as usize;
            assert_eq!(f32::from_le_bytes(bytes[first..first + 4].try_into().unwrap()), i as f32);
        }
        drop(writer);
        assert!(!name.path().exists(), "dropping the writer unlinks the ring");
    }

    #[test]
    fn the_seqlock_reader_gets_back_what_was_published_and_nothing_overwritten() {
        let name = name("readback");
        let mut writer = RingWriter::create(&name, &config(4), false).unwrap();
        for i in 0..6u64 {
            let meta =
                FrameRecord { capture_ns: 1000 + i, vad_prob: 0.25, valid_samples: 4, ..Default::default() };
            writer.publish(&[i as f32, 1.0, 2.0, 3.0], &meta);
        }
        let mut out = [0.0f32; 4];
        for i in 0..6u64 {
            let slot = writer.geometry.slot_of(i);
            let got = seqlock::read_slot(
                writer.slot_meta(slot),
                Some(writer.slot_early(slot)),
                writer.slot_samples(slot),
                i,
                &mut out,
            );
            match got {
                None => assert!(i < 2, "frame {i} is still in the ring"),
                Some(record) => {
                    assert!(i >= 2, "frame {i} was overwritten");
                    assert_eq!((record.index, record.capture_ns, record.vad_prob), (i, 1000 + i, 0.25));
                    assert_eq!(out, [i as f32, 1.0, 2.0, 3.0]);
                }
            }
        }
    }

    #[test]
    fn samples_are_readable_before_the_vad_result_and_the_frame_only_after() {
        let name = name("two-phase");
        let mut writer = RingWriter::create(&name, &config(4), false).unwrap();
        writer.publish(&[9.0; 4], &FrameRecord { valid_samples: 4, ..Default::default() });
        let meta =
            FrameRecord { capture_ns: 77, rms: 0.5, valid_samples: 4, arrival_ns: 70, ..Default::default() };
        let frame = writer.publish_samples(&[1.0, 2.0, 3.0, 4.0], &meta);
        let index = frame.vad.index();
        let header = writer.header();
        assert_eq!(header.sample_seq.load(Ordering::Relaxed), index + 1);
        assert_eq!(header.write_seq.load(Ordering::Relaxed), index, "the frame is not complete yet");
        let slot = writer.geometry.slot_of(index);
        let mut out = [0.0f32; 4];
        let early = seqlock::read_samples(
            writer.slot_meta(slot),
            writer.slot_early(slot),
            writer.slot_samples(slot),
            index,
            &mut out,
        )
        .expect("the samples are published");
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!((early.capture_ns, early.rms, early.arrival_ns), (77, 0.5, 70));
        assert!(early.vad_prob.is_nan() && early.samples_ns > 0);
        assert!(
            seqlock::read_slot(
                writer.slot_meta(slot),
                Some(writer.slot_early(slot)),
                writer.slot_samples(slot),
                index,
                &mut out
            )
            .is_none(),
            "no frame is complete with its VAD field unwritten"
        );
        writer.publish_vad(frame, 0.75, true);
        let full = seqlock::read_slot(
            writer.slot_meta(slot),
            Some(writer.slot_early(slot)),
            writer.slot_samples(slot),
            index,
            &mut out,
        )
        .unwrap();
        assert_eq!((full.vad_prob, full.speech, full.capture_ns), (0.75, true, 77));
        assert!(full.publish_ns >= early.samples_ns);
        assert_eq!(writer.header().write_seq.load(Ordering::Relaxed), index + 1);
    }

    #[test]
    fn closing_sets_the_state_and_bumps_the_futex_word() {
        let name = name("close");
        let mut writer = RingWriter::create(&name, &config(4), false).unwrap();
        let before = writer.header().futex.load(Ordering::Relaxed);
        let samples_before = writer.header().sample_futex.load(Ordering::Relaxed);
        writer.close();
        assert_eq!(writer.header().state.load(Ordering::Relaxed), STATE_CLOSED);
        assert_eq!(writer.header().futex.load(Ordering::Relaxed), before.wrapping_add(1));
        assert_eq!(writer.header().sample_futex.load(Ordering::Relaxed), samples_before.wrapping_add(1));
    }

    #[test]
    fn a_live_owner_is_refused_and_a_dead_one_replaced() {
        let name = name("owner");
        let writer = RingWriter::create(&name, &config(4), false).unwrap();
        match RingWriter::create(&name, &config(4), false) {
            Err(RingError::InUse { pid, .. }) => assert_eq!(pid, std::process::id()),
            other => panic!("expected InUse, got {:?}", other.err()),
        }
        let generation = writer.header().generation;
        // A dead engine: its segment stays but nobody holds the lock.
        std::mem::forget(writer);
        let path = name.path();
        let stale = File::open(&path).unwrap();
        let mut gen = [0u8; 8];
        stale.read_exact_at(&mut gen, 16).unwrap();
        assert_eq!(u64::from_le_bytes(gen), generation);
        // The forgotten writer still holds its lock in this process, so
        // simulate the death by taking the file away from under it.
        let copy = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, copy).unwrap();
        let fresh = RingWriter::create(&name, &config(4), false).unwrap();
        assert_ne!(fresh.header().generation, generation);
    }

    #[test]
    fn the_segment_is_private_to_its_user() {
        use std::os::unix::fs::PermissionsExt;
        let name = name("mode");
        let _writer = RingWriter::create(&name, &config(2), false).unwrap();
        let mode = std::fs::metadata(name.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
