//! The slot seqlock of `LAYOUT.md` §6: the only code that writes a frame into
//! a slot and the reference implementation of reading one back.
//!
//! One writer, any number of readers. The writer never waits: it marks the
//! slot odd, stores the data, marks it even. A reader copies under two loads
//! of the stamp and keeps the copy only if both show the frame it wanted
//! complete; otherwise the frame was overwritten and is reported lost. The
//! engine's `RingWriter`, the Rust readers and the loom model all call these
//! functions, so the model checks exactly what ships.
//!
//! Since layout 1.2 a frame is written in two phases, each ending in its own
//! even stamp: [`write_samples`] (both stamps odd, samples and what is known
//! before the VAD, samples stamp even) and [`VadPending::complete`] (the VAD
//! fields, frame stamp even). A reader of the samples ([`read_samples`]) checks
//! the samples stamp; a reader of the whole frame ([`read_slot`], every 1.0 and
//! 1.1 reader) checks the frame stamp, which stays odd until the VAD result is
//! in, so it never sees a frame with a half-written VAD field.
//!
//! The second phase is a guard, as crossbeam's `SeqLock` hands its writer one:
//! [`write_samples`] returns a [`VadPending`] that only `complete` consumes, so
//! a frame cannot be completed twice or without its samples, and a guard
//! dropped without its result (the VAD panicked) still completes the frame,
//! with no probability (NaN): a slot never stays odd.

use crate::primitive::{fence, AtomicU32, AtomicU64, Ordering};
use crate::protocol::{stamp_complete, stamp_writing};
use crate::slot::{SlotMeta, SlotSamples};

/// Everything a slot says about its frame, besides the samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FrameRecord {
    /// Frame index.
    pub index: u64,
    /// CLOCK_MONOTONIC ns of the frame's first sample.
    pub capture_ns: u64,
    /// CLOCK_MONOTONIC ns at which the writer published the frame.
    pub publish_ns: u64,
    /// VAD probability.
    pub vad_prob: f32,
    /// VAD flag after hysteresis.
    pub speech: bool,
    /// RMS of the valid samples.
    pub rms: f32,
    /// Peak absolute sample.
    pub peak: f32,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Real samples per channel; the rest is padding.
    pub valid_samples: u32,
    /// When the engine received the frame's last sample.
    pub arrival_ns: u64,
    /// When the frame's samples were published (layout 1.2; 0 before).
    pub samples_ns: u64,
}

/// Writes frame `record.index` into one slot in both phases back to back
/// ([`write_samples`] then [`VadPending::complete`]).
///
/// `samples` is the slot's sample area and `frame` exactly as long. Wait-free;
/// only the ring's single writer may call it.
pub fn write_slot(
    meta: &SlotMeta,
    early: &SlotSamples,
    samples: &[AtomicU32],
    frame: &[f32],
    record: &FrameRecord,
) {
    write_samples(meta, early, samples, frame, record).complete(
        record.publish_ns,
        record.vad_prob,
        record.speech,
    );
}

/// Phase 1: writes frame `record.index`'s samples and every field known
/// before the VAD: both stamps odd, Release fence, samples and fields
/// (Relaxed), samples stamp even (Release). The frame stamp stays odd until
/// the returned guard completes it (phase 2). `record`'s VAD fields,
/// `publish_ns` excepted, are not read.
pub fn write_samples<'a>(
    meta: &'a SlotMeta,
    early: &SlotSamples,
    samples: &[AtomicU32],
    frame: &[f32],
    record: &FrameRecord,
) -> VadPending<'a> {
    debug_assert_eq!(samples.len(), frame.len());
    early.stamp.store(stamp_writing(record.index), Ordering::Relaxed);
    meta.stamp.store(stamp_writing(record.index), Ordering::Relaxed);
    // Both odd stamps must be visible before any data store below: a reader
    // that sees new data then also sees a changed stamp and drops the frame.
    fence(Ordering::Release);
    for (dst, &src) in samples.iter().zip(frame) {
        dst.store(src.to_bits(), Ordering::Relaxed);
    }
    meta.index.store(record.index, Ordering::Relaxed);
    meta.capture_ns.store(record.capture_ns, Ordering::Relaxed);
    meta.rms.store(record.rms.to_bits(), Ordering::Relaxed);
    meta.peak.store(record.peak.to_bits(), Ordering::Relaxed);
    meta.flags.store(record.flags, Ordering::Relaxed);
    meta.valid_samples.store(record.valid_samples, Ordering::Relaxed);
    meta.arrival_ns.store(record.arrival_ns, Ordering::Relaxed);
    early.samples_ns.store(record.samples_ns, Ordering::Relaxed);
    // Release: a reader that loads this even stamp with Acquire sees all of
    // the stores above.
    early.stamp.store(stamp_complete(record.index), Ordering::Release);
    VadPending { meta, index: record.index, done: false }
}

/// Phase 2 of a frame [`write_samples`] began: its frame stamp is odd until
/// [`VadPending::complete`] (or the guard's drop) writes the VAD fields.
#[must_use = "the frame stays unreadable to readers of whole frames until its VAD result is in"]
pub struct VadPending<'a> {
    meta: &'a SlotMeta,
    index: u64,
    done: bool,
}

impl VadPending<'_> {
    /// The frame being written.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Stores `publish_ns` and the VAD result, then the frame stamp even
    /// (Release): the frame is complete.
    pub fn complete(mut self, publish_ns: u64, vad_prob: f32, speech: bool) {
        self.finish(publish_ns, vad_prob, speech);
    }

    fn finish(&mut self, publish_ns: u64, vad_prob: f32, speech: bool) {
        let meta = self.meta;
        meta.publish_ns.store(publish_ns, Ordering::Relaxed);
        meta.vad_prob.store(vad_prob.to_bits(), Ordering::Relaxed);
        meta.speech.store(u32::from(speech), Ordering::Relaxed);
        // Release: a reader that loads this even stamp with Acquire sees both
        // phases' stores.
        meta.stamp.store(stamp_complete(self.index), Ordering::Release);
        self.done = true;
    }
}

impl Drop for VadPending<'_> {
    /// A frame whose VAD result never came is completed without one (NaN, no
    /// speech, `publish_ns` 0): its slot never stays odd.
    fn drop(&mut self) {
        if !self.done {
            self.finish(0, f32::NAN, false);
        }
    }
}

/// Makes frames up to `index` visible to readers: `write_seq ← index + 1`
/// (Release), after frame `index` was completed (or `sample_seq`, after its
/// samples were written).
pub fn announce(write_seq: &AtomicU64, index: u64) {
    // Release: a reader that sees write_seq > index also sees the slot complete.
    write_seq.store(index + 1, Ordering::Release);
}

/// Frames published so far (`write_seq`, Acquire).
pub fn published(write_seq: &AtomicU64) -> u64 {
    write_seq.load(Ordering::Acquire)
}

/// Copies frame `index` out of its slot into `out` (as long as the slot's
/// samples); `None` if the slot does not hold that frame or the writer
/// overwrote it during the copy. The caller has seen `published() > index`
/// (of `write_seq`). With the slot's samples record (`early`, layout 1.2 on),
/// `samples_ns` too: phase 1 stores it while the frame stamp is odd, so the
/// frame stamp covers it.
pub fn read_slot(
    meta: &SlotMeta,
    early: Option<&SlotSamples>,
    samples: &[AtomicU32],
    index: u64,
    out: &mut [f32],
) -> Option<FrameRecord> {
    copy_under(&meta.stamp, index, samples, out, || FrameRecord {
        publish_ns: meta.publish_ns.load(Ordering::Relaxed),
        vad_prob: f32::from_bits(meta.vad_prob.load(Ordering::Relaxed)),
        speech: meta.speech.load(Ordering::Relaxed) != 0,
        samples_ns: early.map_or(0, |e| e.samples_ns.load(Ordering::Relaxed)),
        ..samples_fields(meta)
    })
}

/// Copies frame `index`'s samples and the fields known before its VAD into
/// `out` and a record whose VAD fields are NaN / false and `publish_ns` 0;
/// `None` if the slot does not hold those samples or they were overwritten
/// during the copy. The caller has seen `published(sample_seq) > index`.
pub fn read_samples(
    meta: &SlotMeta,
    early: &SlotSamples,
    samples: &[AtomicU32],
    index: u64,
    out: &mut [f32],
) -> Option<FrameRecord> {
    copy_under(&early.stamp, index, samples, out, || FrameRecord {
        vad_prob: f32::NAN,
        samples_ns: early.samples_ns.load(Ordering::Relaxed),
        ..samples_fields(meta)
    })
}

/// The phase-1 fields (racy loads; the caller's stamp check validates them).
fn samples_fields(meta: &SlotMeta) -> FrameRecord {
    FrameRecord {
        index: meta.index.load(Ordering::Relaxed),
        capture_ns: meta.capture_ns.load(Ordering::Relaxed),
        rms: f32::from_bits(meta.rms.load(Ordering::Relaxed)),
        peak: f32::from_bits(meta.peak.load(Ordering::Relaxed)),
        flags: meta.flags.load(Ordering::Relaxed),
        valid_samples: meta.valid_samples.load(Ordering::Relaxed),
        arrival_ns: meta.arrival_ns.load(Ordering::Relaxed),
        ..FrameRecord::default()
    }
}

/// The reader's side of the seqlock: `stamp` must show frame `index` complete
/// before (Acquire) and unchanged after (Acquire fence, then load) copying the
/// samples into `out` and the fields `fields` loads.
fn copy_under(
    stamp: &AtomicU64,
    index: u64,
    samples: &[AtomicU32],
    out: &mut [f32],
    fields: impl FnOnce() -> FrameRecord,
) -> Option<FrameRecord> {
    let before = stamp.load(Ordering::Acquire);
    if before != stamp_complete(index) {
        return None;
    }
    for (dst, src) in out.iter_mut().zip(samples) {
        *dst = f32::from_bits(src.load(Ordering::Relaxed));
    }
    let record = fields();
    // Acquire fence: the copy above is ordered before the stamp's second load,
    // so a copy that raced with an overwrite sees the stamp changed.
    fence(Ordering::Acquire);
    (stamp.load(Ordering::Relaxed) == before).then_some(record)
}

/// Whether the slot still holds frame `index` complete: the check a zero-copy
/// reader repeats after using a view (`Frame.valid()` in Python).
pub fn still_holds(meta: &SlotMeta, index: u64) -> bool {
    fence(Ordering::Acquire);
    meta.stamp.load(Ordering::Relaxed) == stamp_complete(index)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn slot() -> (SlotMeta, SlotSamples, Vec<AtomicU32>) {
        (SlotMeta::new(), SlotSamples::new(), (0..4).map(|_| AtomicU32::new(0)).collect())
    }

    #[test]
    fn a_frame_is_whole_only_once_its_guard_completes_it() {
        let (meta, early, samples) = slot();
        let record = FrameRecord { index: 7, capture_ns: 5, ..FrameRecord::default() };
        let pending = write_samples(&meta, &early, &samples, &[1.0, 2.0, 3.0, 4.0], &record);
        let mut out = [0.0; 4];
        assert!(read_samples(&meta, &early, &samples, 7, &mut out).is_some(), "samples first");
        assert!(read_slot(&meta, Some(&early), &samples, 7, &mut out).is_none(), "no whole frame yet");
        pending.complete(9, 0.75, true);
        let whole = read_slot(&meta, Some(&early), &samples, 7, &mut out).expect("complete");
        assert_eq!(
            (whole.publish_ns, whole.vad_prob, whole.speech, out),
            (9, 0.75, true, [1.0, 2.0, 3.0, 4.0])
        );
    }

    #[test]
    fn a_guard_dropped_without_its_result_completes_the_frame_without_one() {
        let (meta, early, samples) = slot();
        let record = FrameRecord { index: 3, ..FrameRecord::default() };
        drop(write_samples(&meta, &early, &samples, &[0.5; 4], &record));
        let mut out = [0.0; 4];
        let whole = read_slot(&meta, Some(&early), &samples, 3, &mut out).expect("the slot is not left odd");
        assert!(whole.vad_prob.is_nan() && !whole.speech && whole.publish_ns == 0);
    }
}
