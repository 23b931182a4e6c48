//! The sizes of the layout's parts (`LAYOUT.md` §2–§4).

/// Bytes of header this version defines and writes.
pub const HEADER_SIZE: usize = 4096;
/// Bytes of the header a version-1.0 reader needs to read (everything past
/// it was reserved in 1.0).
pub const HEADER_USED: usize = 512;
/// Bytes of the header this version defines: 1.2 adds `sample_seq` and
/// `sample_futex` after the statistics, 1.3 the source's clock and the origin.
pub const HEADER_DEFINED: usize = 968;
/// The cache-line size the layout separates hot fields by.
pub const CACHE_LINE: usize = 64;
/// Bytes of one slot's 1.0 metadata record ([`crate::SlotMeta`]), the smallest
/// `meta_stride` a reader accepts.
pub const SLOT_META_SIZE: usize = 64;
/// Bytes of one slot's whole record as a 1.2 writer lays it out:
/// [`crate::SlotMeta`] then [`crate::SlotSamples`]; the writer's `meta_stride`.
pub const SLOT_RECORD_SIZE: usize = 128;
/// Sections start on page boundaries so each can be mapped or locked alone.
pub const PAGE: u64 = 4096;
