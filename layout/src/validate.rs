//! Reading a header from untrusted bytes: every field is checked against the
//! file size before anything is derived from it.

use std::fmt;

use crate::{Geometry, FORMAT_F32LE, HEADER_USED, MAGIC, SLOT_META_SIZE, STATE_CLOSED, VERSION_MAJOR};

/// Why a segment cannot be read as a version-1 ring.
#[derive(Debug, Clone, PartialEq)]
pub enum LayoutError {
    /// The first eight bytes are not `MAGIC`: not a v2m ring.
    BadMagic,
    /// A major version this crate does not read.
    UnsupportedVersion {
        /// The segment's major version.
        major: u16,
        /// The segment's minor version.
        minor: u16,
    },
    /// The segment is smaller than its header says it is.
    Truncated {
        /// Bytes the header requires.
        needed: u64,
        /// Bytes the file has.
        actual: u64,
    },
    /// A field is out of range or sections overlap.
    Invalid(String),
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::BadMagic => write!(f, "not a v2m ring (bad magic)"),
            LayoutError::UnsupportedVersion { major, minor } => write!(
                f,
                "ring layout version {major}.{minor} is not supported (this build reads {VERSION_MAJOR}.x); \
                 use matching versions of the engine and its readers"
            ),
            LayoutError::Truncated { needed, actual } => {
                write!(f, "ring is truncated: the header needs {needed} bytes but the segment has {actual}")
            }
            LayoutError::Invalid(why) => write!(f, "ring header is inconsistent: {why}"),
        }
    }
}

impl std::error::Error for LayoutError {}

/// The header fields a reader or `status` needs, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderInfo {
    /// Major and minor layout version of the writer.
    pub version: (u16, u16),
    /// The writer's generation id.
    pub generation: u64,
    /// The writer's process id.
    pub writer_pid: u32,
    /// `STATE_*`.
    pub state: u32,
    /// Where the sections are.
    pub geometry: Geometry,
    /// Frames published.
    pub write_seq: u64,
    /// `VAD_*`.
    pub vad_kind: u32,
    /// VAD start threshold.
    pub vad_threshold: f32,
    /// VAD end threshold.
    pub vad_neg_threshold: f32,
    /// VAD minimum silence in ms.
    pub vad_min_silence_ms: u32,
    /// Replay speed (0 = as fast as possible).
    pub source_speed: f32,
    /// The `--source` text.
    pub source: String,
    /// CLOCK_MONOTONIC ns at creation.
    pub created_mono_ns: u64,
    /// CLOCK_REALTIME ns at creation.
    pub created_real_ns: u64,
    /// `[device_overruns, samples_lost, source_restarts, discontinuities,
    /// vad_ns_total, vad_ns_max, vad_frames, last_publish_ns]`.
    pub stats: [u64; 8],
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}
fn f32_at(b: &[u8], off: usize) -> f32 {
    f32::from_bits(u32_at(b, off))
}

fn invalid(why: String) -> LayoutError {
    LayoutError::Invalid(why)
}

impl HeaderInfo {
    /// Parses and validates a header.
    ///
    /// `bytes` is at least the first `HEADER_USED` bytes of the segment (a
    /// snapshot is fine: the fields checked here never change after
    /// publication) and `file_len` the segment's size.
    ///
    /// ```
    /// use v2m_layout::{HeaderInfo, LayoutError};
    /// assert_eq!(HeaderInfo::parse(b"not a ring", 10), Err(LayoutError::BadMagic));
    /// assert_eq!(HeaderInfo::parse(&v2m_layout::MAGIC, 8), Err(LayoutError::Truncated { needed: 512, actual: 8 }));
    /// ```
    pub fn parse(bytes: &[u8], file_len: u64) -> Result<HeaderInfo, LayoutError> {
        let have = (bytes.len() as u64).min(file_len);
        if have >= 8 && bytes[..8] != MAGIC {
            return Err(LayoutError::BadMagic);
        }
        if have < HEADER_USED as u64 {
            return Err(LayoutError::Truncated { needed: HEADER_USED as u64, actual: have });
        }
        let version = (u16_at(bytes, 8), u16_at(bytes, 10));
        if version.0 != VERSION_MAJOR {
            return Err(LayoutError::UnsupportedVersion { major: version.0, minor: version.1 });
        }
        let header_size = u64::from(u32_at(bytes, 12));
        if header_size < HEADER_USED as u64 {
            return Err(invalid(format!("header size {header_size} is below {HEADER_USED}")));
        }
        let total_size = u64_at(bytes, 48);
        if total_size > file_len {
            return Err(LayoutError::Truncated { needed: total_size, actual: file_len });
        }
        if total_size < file_len {
            return Err(invalid(format!("header says {total_size} bytes but the segment has {file_len}")));
        }
        let state = u32_at(bytes, 28);
        if state > STATE_CLOSED {
            return Err(invalid(format!("unknown state {state}")));
        }
        let geometry = geometry_from(bytes, header_size, total_size)?;
        let source_bytes = &bytes[192..320];
        let source_end = source_bytes.iter().position(|&c| c == 0).unwrap_or(source_bytes.len());
        let mut stats = [0u64; 8];
        for (i, s) in stats.iter_mut().enumerate() {
            *s = u64_at(bytes, 448 + 8 * i);
        }
        Ok(HeaderInfo {
            version,
            generation: u64_at(bytes, 16),
            writer_pid: u32_at(bytes, 24),
            state,
            geometry,
            write_seq: u64_at(bytes, 320),
            vad_kind: u32_at(bytes, 128),
            vad_threshold: f32_at(bytes, 132),
            vad_neg_threshold: f32_at(bytes, 136),
            vad_min_silence_ms: u32_at(bytes, 140),
            source_speed: f32_at(bytes, 144),
            source: String::from_utf8_lossy(&source_bytes[..source_end]).into_owned(),
            created_mono_ns: u64_at(bytes, 32),
            created_real_ns: u64_at(bytes, 40),
            stats,
        })
    }
}

/// Checks the geometry fields with overflow-free arithmetic: sections must lie
/// inside the segment, in order, without overlapping.
fn geometry_from(bytes: &[u8], header_size: u64, total_size: u64) -> Result<Geometry, LayoutError> {
    let g = Geometry {
        sample_rate: u32_at(bytes, 64),
        channels: u32_at(bytes, 68),
        frame_samples: u32_at(bytes, 72),
        slot_count: u32_at(bytes, 80),
        meta_stride: u32_at(bytes, 84),
        meta_offset: u64_at(bytes, 88),
        samples_offset: u64_at(bytes, 96),
        slot_bytes: u64_at(bytes, 104),
        total_size,
    };
    let format = u32_at(bytes, 76);
    if format != FORMAT_F32LE {
        return Err(invalid(format!("unknown sample format {format}")));
    }
    if g.sample_rate == 0 || g.channels == 0 || g.frame_samples == 0 {
        return Err(invalid(format!(
            "rate {} Hz, {} channels, {} samples per frame: none may be zero",
            g.sample_rate, g.channels, g.frame_samples
        )));
    }
    if g.slot_count == 0 || !g.slot_count.is_power_of_two() {
        return Err(invalid(format!("slot count {} is not a power of two", g.slot_count)));
    }
    if (g.meta_stride as usize) < SLOT_META_SIZE || g.meta_stride % 8 != 0 {
        return Err(invalid(format!("metadata stride {} is below 64 or unaligned", g.meta_stride)));
    }
    if g.meta_offset < header_size || g.meta_offset % 64 != 0 {
        return Err(invalid(format!(
            "metadata offset {} overlaps the header or is unaligned",
            g.meta_offset
        )));
    }
    let expected_slot_bytes = u64::from(g.frame_samples) * u64::from(g.channels) * 4;
    if g.slot_bytes != expected_slot_bytes {
        return Err(invalid(format!(
            "slot size {} bytes does not match {} samples × {} channels × 4",
            g.slot_bytes, g.frame_samples, g.channels
        )));
    }
    let slots = u64::from(g.slot_count);
    let meta_end = slots
        .checked_mul(u64::from(g.meta_stride))
        .and_then(|n| n.checked_add(g.meta_offset))
        .ok_or_else(|| invalid("metadata section overflows".into()))?;
    if meta_end > g.samples_offset || g.samples_offset % 64 != 0 {
        return Err(invalid(format!(
            "samples offset {} overlaps the metadata (which ends at {meta_end}) or is unaligned",
            g.samples_offset
        )));
    }
    let samples_end = slots
        .checked_mul(g.slot_bytes)
        .and_then(|n| n.checked_add(g.samples_offset))
        .ok_or_else(|| invalid("samples section overflows".into()))?;
    if samples_end > total_size {
        return Err(LayoutError::Truncated { needed: samples_end, actual: total_size });
    }
    Ok(g)
}
