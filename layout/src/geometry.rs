//! Where each section of a segment lies, computed from the ring's format.

use crate::error::LayoutError;
use crate::limits::format_problems;
use crate::sizes::{HEADER_SIZE, PAGE, SLOT_META_SIZE, SLOT_RECORD_SIZE};

/// The format of a ring and the byte offsets of its sections.
///
/// A writer computes it with [`Geometry::new`]; a reader never recomputes it
/// but reads it from the header ([`crate::HeaderInfo`]), so a future writer
/// may place sections differently without breaking readers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Frames per second.
    pub sample_rate: u32,
    /// Interleaved channels.
    pub channels: u32,
    /// Samples per channel in one frame.
    pub frame_samples: u32,
    /// Slots in the ring, a power of two.
    pub slot_count: u32,
    /// Byte offset of slot 0's metadata.
    pub meta_offset: u64,
    /// Bytes between metadata records.
    pub meta_stride: u32,
    /// Byte offset of slot 0's samples.
    pub samples_offset: u64,
    /// Bytes of one slot's samples.
    pub slot_bytes: u64,
    /// Bytes of the whole segment.
    pub total_size: u64,
}

impl Geometry {
    /// Lays out a ring of `slot_count` frames of `frame_samples × channels`
    /// float32 samples at `sample_rate`.
    ///
    /// ```
    /// let g = v2m_layout::Geometry::new(16_000, 1, 512, 8).unwrap();
    /// assert_eq!(g.total_size, 4096 + 4096 + 8 * 2048);
    /// assert!(v2m_layout::Geometry::new(16_000, 1, 512, 3).is_err());
    /// ```
    pub fn new(
        sample_rate: u32,
        channels: u32,
        frame_samples: u32,
        slot_count: u32,
    ) -> Result<Geometry, LayoutError> {
        let problems = format_problems(sample_rate, channels, frame_samples, slot_count);
        if !problems.is_empty() {
            return Err(LayoutError::Invalid(problems.join("; ")));
        }
        let meta_offset = HEADER_SIZE as u64;
        let meta_end = meta_offset + u64::from(slot_count) * SLOT_RECORD_SIZE as u64;
        let samples_offset = meta_end.next_multiple_of(PAGE);
        let slot_bytes = u64::from(frame_samples) * u64::from(channels) * 4;
        let total_size = (samples_offset + u64::from(slot_count) * slot_bytes).next_multiple_of(PAGE);
        Ok(Geometry {
            sample_rate,
            channels,
            frame_samples,
            slot_count,
            meta_offset,
            meta_stride: SLOT_RECORD_SIZE as u32,
            samples_offset,
            slot_bytes,
            total_size,
        })
    }

    /// The slot that frame `index` lives in.
    ///
    /// ```
    /// let g = v2m_layout::Geometry::new(16_000, 1, 512, 8).unwrap();
    /// assert_eq!(g.slot_of(9), 1);
    /// ```
    pub fn slot_of(&self, index: u64) -> usize {
        (index & u64::from(self.slot_count - 1)) as usize
    }

    /// Byte offset of slot `slot`'s metadata record.
    pub fn meta_at(&self, slot: usize) -> u64 {
        self.meta_offset + slot as u64 * u64::from(self.meta_stride)
    }

    /// Byte offset of slot `slot`'s samples record (layout 1.2), or None when
    /// the stride has no room for one (a ring written by a 1.0 or 1.1 engine).
    pub fn samples_record_at(&self, slot: usize) -> Option<u64> {
        (self.meta_stride as usize >= SLOT_RECORD_SIZE).then(|| self.meta_at(slot) + SLOT_META_SIZE as u64)
    }

    /// Byte offset of slot `slot`'s first sample.
    pub fn samples_at(&self, slot: usize) -> u64 {
        self.samples_offset + slot as u64 * self.slot_bytes
    }

    /// Samples (all channels) in one frame.
    pub fn samples_per_frame(&self) -> usize {
        self.frame_samples as usize * self.channels as usize
    }

    /// Duration of one frame in ns.
    pub fn frame_ns(&self) -> u64 {
        u64::from(self.frame_samples) * 1_000_000_000 / u64::from(self.sample_rate)
    }
}
