//! One slot's metadata record: the seqlock stamp and what describes the frame
//! (line 0, since layout 1.0), and the samples stamp that lets a reader take
//! the samples before the VAD result (line 1, since layout 1.2).

use crate::primitive::{AtomicU32, AtomicU64};
#[cfg(not(loom))]
use crate::sizes::{SLOT_META_SIZE, SLOT_RECORD_SIZE};
use std::mem::offset_of;
#[cfg(not(loom))]
use std::mem::size_of;

/// Metadata of the frame in one slot, one cache line.
///
/// Every field is atomic because readers load them while the writer may be
/// storing: the writer's stores between the odd and the even stamp are
/// `Relaxed`, and the stamp protocol (see `LAYOUT.md`) is what makes a
/// reader's copy trustworthy. `f32` values are stored as their bits.
///
/// Written only through the seqlock's `write_slot`.
///
/// ```
/// assert_eq!(std::mem::size_of::<v2m_layout::SlotMeta>(), 64);
/// ```
#[repr(C, align(64))]
pub struct SlotMeta {
    /// Seqlock stamp: `stamp_writing(index)` while frame `index` is written,
    /// `stamp_complete(index)` once it is complete, 0 if never written.
    pub stamp: AtomicU64,
    /// The frame's index: frames are numbered 0, 1, 2, … from engine start.
    pub index: AtomicU64,
    /// CLOCK_MONOTONIC ns at which the frame's first sample was captured.
    pub capture_ns: AtomicU64,
    /// CLOCK_MONOTONIC ns at which the writer began publishing the frame.
    pub publish_ns: AtomicU64,
    /// VAD speech probability in [0, 1] (`f32` bits).
    pub vad_prob: AtomicU32,
    /// VAD speech flag after hysteresis: 1 speech, 0 not.
    pub speech: AtomicU32,
    /// RMS level of the frame's valid samples, linear full scale (`f32` bits).
    pub rms: AtomicU32,
    /// Peak absolute sample of the frame, linear full scale (`f32` bits).
    pub peak: AtomicU32,
    /// `FLAG_*` bits.
    pub flags: AtomicU32,
    /// Samples per channel that are real audio; the rest is zero padding.
    pub valid_samples: AtomicU32,
    /// CLOCK_MONOTONIC ns at which the engine received the frame's last
    /// sample (the capture callback's time for a device; the sample's due
    /// time for a replayed source). `publish_ns − arrival_ns` is the
    /// latency the engine adds. Since layout 1.1; 0 in 1.0.
    pub arrival_ns: AtomicU64,
}

#[cfg(not(loom))] // loom's atomics are larger than the real ones
const _: () = {
    assert!(size_of::<SlotMeta>() == SLOT_META_SIZE);
    assert!(offset_of!(SlotMeta, stamp) == 0);
    assert!(offset_of!(SlotMeta, index) == 8);
    assert!(offset_of!(SlotMeta, capture_ns) == 16);
    assert!(offset_of!(SlotMeta, publish_ns) == 24);
    assert!(offset_of!(SlotMeta, vad_prob) == 32);
    assert!(offset_of!(SlotMeta, speech) == 36);
    assert!(offset_of!(SlotMeta, rms) == 40);
    assert!(offset_of!(SlotMeta, peak) == 44);
    assert!(offset_of!(SlotMeta, flags) == 48);
    assert!(offset_of!(SlotMeta, valid_samples) == 52);
    assert!(offset_of!(SlotMeta, arrival_ns) == 56);
};

impl SlotMeta {
    /// A record never written (stamp 0), for building rings outside shared
    /// memory (the loom model, tests).
    pub fn new() -> SlotMeta {
        SlotMeta {
            stamp: AtomicU64::new(0),
            index: AtomicU64::new(0),
            capture_ns: AtomicU64::new(0),
            publish_ns: AtomicU64::new(0),
            vad_prob: AtomicU32::new(0),
            speech: AtomicU32::new(0),
            rms: AtomicU32::new(0),
            peak: AtomicU32::new(0),
            flags: AtomicU32::new(0),
            valid_samples: AtomicU32::new(0),
            arrival_ns: AtomicU64::new(0),
        }
    }

    /// `(name, offset, size)` of every named field, for the conformance test.
    ///
    /// ```
    /// let fields = v2m_layout::SlotMeta::field_table();
    /// assert_eq!(fields[0], ("stamp", 0, 8));
    /// ```
    pub fn field_table() -> Vec<(&'static str, usize, usize)> {
        macro_rules! f {
            ($($field:ident : $size:expr),* $(,)?) => {
                vec![$((stringify!($field), offset_of!(SlotMeta, $field), $size)),*]
            };
        }
        f!(
            stamp: 8, index: 8, capture_ns: 8, publish_ns: 8, vad_prob: 4, speech: 4,
            rms: 4, peak: 4, flags: 4, valid_samples: 4, arrival_ns: 8,
        )
    }
}

impl Default for SlotMeta {
    fn default() -> Self {
        SlotMeta::new()
    }
}

/// The second cache line of a slot's record (layout 1.2): a seqlock over the
/// samples and the fields known before the VAD runs, so readers that want the
/// audio take it without waiting for the inference.
///
/// ```
/// assert_eq!(std::mem::size_of::<v2m_layout::SlotSamples>(), 64);
/// ```
#[repr(C, align(64))]
pub struct SlotSamples {
    /// Seqlock stamp of the samples: `stamp_writing(index)` while frame
    /// `index`'s samples are written, `stamp_complete(index)` once they are.
    pub stamp: AtomicU64,
    /// CLOCK_MONOTONIC ns at which the frame's samples were published
    /// (`samples_ns − arrival_ns` is what the engine adds before the audio).
    pub samples_ns: AtomicU64,
}

#[cfg(not(loom))]
const _: () = {
    assert!(size_of::<SlotSamples>() == SLOT_RECORD_SIZE - SLOT_META_SIZE);
    assert!(offset_of!(SlotSamples, stamp) == 0);
    assert!(offset_of!(SlotSamples, samples_ns) == 8);
};

impl SlotSamples {
    /// A record never written (stamp 0).
    pub fn new() -> SlotSamples {
        SlotSamples { stamp: AtomicU64::new(0), samples_ns: AtomicU64::new(0) }
    }

    /// `(name, offset in the slot's record, size)` of every field.
    pub fn field_table() -> Vec<(&'static str, usize, usize)> {
        let base = std::mem::size_of::<SlotMeta>();
        vec![
            ("samples_stamp", base + offset_of!(SlotSamples, stamp), 8),
            ("samples_ns", base + offset_of!(SlotSamples, samples_ns), 8),
        ]
    }
}

impl Default for SlotSamples {
    fn default() -> Self {
        SlotSamples::new()
    }
}
