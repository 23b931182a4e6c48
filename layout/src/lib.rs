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
mod error;
mod geometry;
mod header;
mod limits;
mod primitive;
mod protocol;
pub mod seqlock;
mod sizes;
mod slot;
mod validate;

pub use config::{Origin, OriginKind, RingConfig, VadConfig, VadKind};
pub use error::LayoutError;
pub use geometry::Geometry;
pub use header::{put_text, text_of, Header, Stats};
pub use limits::{format_problems, MAX_CHANNELS, MAX_FRAME_SAMPLES, MAX_META_STRIDE, MAX_SLOTS, RATE_RANGE};
pub use protocol::*;
pub use seqlock::FrameRecord;
pub use sizes::*;
pub use slot::{SlotMeta, SlotSamples};
pub use validate::{HeaderInfo, StatsSnapshot};
