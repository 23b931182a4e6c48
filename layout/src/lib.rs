//! The v2m shared-memory frame ring, layout version 1.
//!
//! One engine process (the *writer*) publishes fixed-size audio frames into a
//! ring that lives in one POSIX shared-memory segment; any number of reader
//! processes map the same segment **read-only**. `layout/LAYOUT.md` is the
//! normative spec; this crate is its Rust definition and the two must agree
//! (a test in `tests/` proves the Python reader agrees with both).
//!
//! Guarantees of the protocol:
//! - **One writer, many readers.** Readers never store into the segment, so
//!   any number of them can attach, detach or die without the writer noticing.
//! - **The writer is wait-free.** Publishing a frame is a bounded sequence of
//!   stores and one `FUTEX_WAKE`; it never waits for a reader, never allocates.
//! - **Readers never see torn frames.** Every slot is a seqlock: a reader that
//!   raced with the writer sees a changed stamp and drops the frame instead.
//! - **When full, the oldest frame is overwritten.** A slow reader loses the
//!   oldest frames and can count exactly how many.
//!
//! The segment is three sections, each located by the header alone:
//!
//! ```text
//! [ Header: 4096 bytes ][ (SlotMeta, SlotSamples) × slot_count ][ pad ][ f32 samples × frame_samples × channels × slot_count ]
//! ```
//!
//! ```
//! use v2m_layout::Geometry;
//! let g = Geometry::new(16_000, 1, 512, 2048).unwrap();
//! assert_eq!(g.meta_offset, 4096);
//! assert_eq!(g.slot_bytes, 512 * 4);
//! assert!(g.samples_offset % 4096 == 0);
//! ```

mod config;
mod geometry;
mod header;
mod primitive;
pub mod seqlock;
mod slot;
mod validate;

pub use config::{RingConfig, VadConfig, VadKind};
pub use geometry::Geometry;
pub use header::{Header, Stats};
pub use seqlock::FrameRecord;
pub use slot::{SlotMeta, SlotSamples};
pub use validate::{HeaderInfo, LayoutError, StatsSnapshot};

/// The first eight bytes of every segment.
pub const MAGIC: [u8; 8] = *b"V2MRING\0";
/// Major layout version: a reader refuses any other major version.
pub const VERSION_MAJOR: u16 = 1;
/// Minor layout version: newer minors only add fields in reserved space and
/// new flag bits, so a reader accepts any minor of its major.
pub const VERSION_MINOR: u16 = 3;
/// Bytes of header this version defines and writes.
pub const HEADER_SIZE: usize = 4096;
/// Bytes of the header a version-1.0 reader needs to read (everything past
/// it was reserved in 1.0).
pub const HEADER_USED: usize = 512;
/// Bytes of the header this version defines: 1.2 adds `sample_seq` and
/// `sample_futex` after the statistics.
pub const HEADER_DEFINED: usize = 640;
/// The cache-line size the layout separates hot fields by.
pub const CACHE_LINE: usize = 64;
/// Bytes of one slot's 1.0 metadata record ([`SlotMeta`]), the smallest
/// `meta_stride` a reader accepts.
pub const SLOT_META_SIZE: usize = 64;
/// Bytes of one slot's whole record as a 1.2 writer lays it out:
/// [`SlotMeta`] then [`SlotSamples`]; the writer's `meta_stride`.
pub const SLOT_RECORD_SIZE: usize = 128;
/// Sections start on page boundaries so each can be mapped or locked alone.
pub const PAGE: u64 = 4096;
/// The largest slot count a writer creates (2^20 frames).
pub const MAX_SLOTS: u32 = 1 << 20;
/// The largest frame a writer creates, in samples per channel.
pub const MAX_FRAME_SAMPLES: u32 = 1 << 16;
/// The largest channel count a writer creates.
pub const MAX_CHANNELS: u32 = 16;
/// The largest distance between metadata records a reader accepts.
pub const MAX_META_STRIDE: u32 = 4096;
/// The lowest and highest sample rates a writer accepts, in Hz.
pub const RATE_RANGE: std::ops::RangeInclusive<u32> = 1_000..=384_000;

/// `Header::state`: the engine is setting up; readers wait for `RUNNING`.
pub const STATE_STARTING: u32 = 0;
/// `Header::state`: frames are being published.
pub const STATE_RUNNING: u32 = 1;
/// `Header::state`: the writer published its last frame; no more will come.
pub const STATE_CLOSED: u32 = 2;

/// `Header::sample_format`: little-endian IEEE-754 float32, interleaved.
pub const FORMAT_F32LE: u32 = 1;

/// `Header::vad_kind`: no VAD; probability 0, flag false.
pub const VAD_OFF: u32 = 0;
/// `Header::vad_kind`: energy detector (RMS against an adaptive noise floor).
pub const VAD_ENERGY: u32 = 1;
/// `Header::vad_kind`: Silero VAD through ONNX Runtime.
pub const VAD_SILERO: u32 = 2;

/// `SlotMeta::flags`: samples before this frame are missing (overrun, gap,
/// restart): do not join this frame's audio to the previous one.
pub const FLAG_DISCONTINUITY: u32 = 1 << 0;
/// `SlotMeta::flags`: the source ended inside this frame; samples from
/// `valid_samples` on are zero padding.
pub const FLAG_PADDED: u32 = 1 << 1;
/// `SlotMeta::flags`: the capture device overran (xrun) before this frame.
pub const FLAG_DEVICE_OVERRUN: u32 = 1 << 2;
/// `SlotMeta::flags`: the source restarted (file looped, device reopened).
pub const FLAG_SOURCE_RESTART: u32 = 1 << 3;

/// The stamp a slot holds once frame `index` is completely written.
///
/// Stamps grow by two per write of a slot: `2·index + 1` (odd) while frame
/// `index` is being written, `2·index + 2` (even) when it is complete, and 0
/// for a slot never written.
///
/// ```
/// assert_eq!(v2m_layout::stamp_complete(0), 2);
/// assert_eq!(v2m_layout::stamp_writing(0), 1);
/// ```
pub const fn stamp_complete(index: u64) -> u64 {
    2 * index + 2
}

/// The odd stamp a slot holds while frame `index` is being written.
pub const fn stamp_writing(index: u64) -> u64 {
    2 * index + 1
}
