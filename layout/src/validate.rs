//! Reading a header from untrusted bytes: every field is checked, with
//! overflow-free arithmetic, before anything is derived from it. Field
//! offsets come from the [`Header`] definition itself, never from literals.
//! The Python reader implements the same rules (`LAYOUT.md` §3); a shared
//! corpus of mutated headers in the tests proves the two accept exactly the
//! same headers.

use std::mem::offset_of;
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::config::{Origin, OriginKind, RingConfig, VadConfig, VadKind};
use crate::error::LayoutError;
use crate::geometry::Geometry;
use crate::header::{text_of, Header};
use crate::limits::{format_problems, MAX_META_STRIDE};
use crate::protocol::{FORMAT_F32LE, MAGIC, STATE_CLOSED, VAD_CHANNEL_MIX, VERSION_MAJOR};
use crate::sizes::{HEADER_DEFINED, HEADER_USED, SLOT_META_SIZE};

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
    /// Format, geometry and the engine's configuration.
    pub config: RingConfig,
    /// Frames published.
    pub write_seq: u64,
    /// CLOCK_MONOTONIC ns at creation.
    pub created_mono_ns: u64,
    /// CLOCK_REALTIME ns at creation.
    pub created_real_ns: u64,
    /// The engine's statistics counters.
    pub stats: StatsSnapshot,
    /// CLOCK_REALTIME − CLOCK_MONOTONIC of the host that captured the frames, ns
    /// (layout 1.3, read from a header of at least `HEADER_DEFINED` bytes; before,
    /// the writer's own at creation).
    pub source_clock_offset_ns: i64,
}

/// The values of [`crate::Stats`] at the moment the header was read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Capture device overruns.
    pub device_overruns: u64,
    /// Samples lost before they reached the ring.
    pub samples_lost: u64,
    /// Source restarts.
    pub source_restarts: u64,
    /// Frames published with `FLAG_DISCONTINUITY`.
    pub discontinuities: u64,
    /// Total ns spent in the VAD.
    pub vad_ns_total: u64,
    /// Longest single VAD call in ns.
    pub vad_ns_max: u64,
    /// Frames the VAD ran on.
    pub vad_frames: u64,
    /// CLOCK_MONOTONIC ns of the most recent publish.
    pub last_publish_ns: u64,
}

/// A header field type and how its little-endian bytes decode.
trait LeField {
    type Value;
    fn decode(bytes: &[u8]) -> Self::Value;
}

macro_rules! le_field {
    ($($field:ty => $value:ty),* $(,)?) => {$(
        impl LeField for $field {
            type Value = $value;
            fn decode(bytes: &[u8]) -> $value {
                <$value>::from_le_bytes(bytes[..size_of::<$value>()].try_into().expect("sized slice"))
            }
        }
    )*};
}
use std::mem::size_of;
le_field!(u16 => u16, u32 => u32, u64 => u64, f32 => f32, AtomicU32 => u32, AtomicU64 => u64);

/// Decodes the header field at `offset` with the type `_field` points to.
fn decode<F: LeField>(bytes: &[u8], offset: usize, _field: fn(&Header) -> &F) -> F::Value {
    F::decode(&bytes[offset..])
}

/// `field!(bytes, sample_rate)`: the header field's value, its offset and type
/// taken from the `Header` definition.
macro_rules! field {
    ($bytes:expr, $($path:ident).+) => {
        decode($bytes, offset_of!(Header, $($path).+), |h: &Header| &h.$($path).+)
    };
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
        let version = (field!(bytes, version_major), field!(bytes, version_minor));
        if version.0 != VERSION_MAJOR {
            return Err(LayoutError::UnsupportedVersion { major: version.0, minor: version.1 });
        }
        let header_size = u64::from(field!(bytes, header_size));
        if header_size < HEADER_USED as u64 {
            return Err(invalid(format!("header size {header_size} is below {HEADER_USED}")));
        }
        let total_size = field!(bytes, total_size);
        if total_size > file_len {
            return Err(LayoutError::Truncated { needed: total_size, actual: file_len });
        }
        if total_size < file_len {
            return Err(invalid(format!("header says {total_size} bytes but the segment has {file_len}")));
        }
        let state = field!(bytes, state);
        if state > STATE_CLOSED {
            return Err(invalid(format!("unknown state {state}")));
        }
        let geometry = geometry_from(bytes, header_size, total_size)?;
        let source = text_of(&bytes[offset_of!(Header, source)..][..size_of::<[u8; 128]>()]);
        let created_mono_ns = field!(bytes, created_mono_ns);
        let created_real_ns = field!(bytes, created_real_ns);
        // The 1.3 lines past HEADER_USED, when the caller read them.
        let extended = version.1 >= 3 && bytes.len() >= HEADER_DEFINED;
        let text =
            |at: usize, len: usize| if extended { text_of(&bytes[at..at + len]) } else { String::new() };
        let origin = Origin {
            kind: OriginKind::from_code(if version.1 >= 3 { field!(bytes, origin_kind) } else { 0 }),
            host: text(offset_of!(Header, origin_host), 64),
            ring: text(offset_of!(Header, origin_ring), 64),
            key: text(offset_of!(Header, origin_key), 128),
            generation: if extended { field!(bytes, origin_generation) } else { 0 },
        };
        let source_clock_offset_ns = if extended {
            field!(bytes, source_clock_offset_ns) as i64
        } else {
            created_real_ns as i64 - created_mono_ns as i64
        };
        Ok(HeaderInfo {
            version,
            generation: field!(bytes, generation),
            writer_pid: field!(bytes, writer_pid),
            state,
            config: RingConfig {
                geometry,
                vad: VadConfig {
                    kind: VadKind::from_code(field!(bytes, vad_kind)),
                    threshold: field!(bytes, vad_threshold),
                    neg_threshold: field!(bytes, vad_neg_threshold),
                    min_silence_ms: field!(bytes, vad_min_silence_ms),
                    channel: match field!(bytes, vad_channel) {
                        k if version.1 >= 4 && k != VAD_CHANNEL_MIX => Some(k),
                        _ => None,
                    },
                },
                source_speed: field!(bytes, source_speed),
                source,
                first_index: if version.1 >= 3 { field!(bytes, first_index) } else { 0 },
                origin,
            },
            write_seq: field!(bytes, write_seq),
            created_mono_ns,
            created_real_ns,
            stats: StatsSnapshot {
                device_overruns: field!(bytes, stats.device_overruns),
                samples_lost: field!(bytes, stats.samples_lost),
                source_restarts: field!(bytes, stats.source_restarts),
                discontinuities: field!(bytes, stats.discontinuities),
                vad_ns_total: field!(bytes, stats.vad_ns_total),
                vad_ns_max: field!(bytes, stats.vad_ns_max),
                vad_frames: field!(bytes, stats.vad_frames),
                last_publish_ns: field!(bytes, stats.last_publish_ns),
            },
            source_clock_offset_ns,
        })
    }
}

/// Checks the format and geometry fields: each within what a writer can
/// create, sections inside the segment, in order, without overlapping.
fn geometry_from(bytes: &[u8], header_size: u64, total_size: u64) -> Result<Geometry, LayoutError> {
    let g = Geometry {
        sample_rate: field!(bytes, sample_rate),
        channels: field!(bytes, channels),
        frame_samples: field!(bytes, frame_samples),
        slot_count: field!(bytes, slot_count),
        meta_stride: field!(bytes, meta_stride),
        meta_offset: field!(bytes, meta_offset),
        samples_offset: field!(bytes, samples_offset),
        slot_bytes: field!(bytes, slot_bytes),
        total_size,
    };
    let format = field!(bytes, sample_format);
    if format != FORMAT_F32LE {
        return Err(invalid(format!("unknown sample format {format}")));
    }
    let mut problems = format_problems(g.sample_rate, g.channels, g.frame_samples, g.slot_count);
    if !(SLOT_META_SIZE as u32..=MAX_META_STRIDE).contains(&g.meta_stride) || g.meta_stride % 8 != 0 {
        problems.push(format!(
            "metadata stride {} is outside {SLOT_META_SIZE}..={MAX_META_STRIDE} or not a multiple of 8",
            g.meta_stride
        ));
    }
    if g.meta_offset < header_size || g.meta_offset % 64 != 0 {
        problems.push(format!("metadata offset {} overlaps the header or is unaligned", g.meta_offset));
    }
    let expected_slot_bytes =
        u64::from(g.frame_samples).checked_mul(u64::from(g.channels)).and_then(|n| n.checked_mul(4));
    if expected_slot_bytes != Some(g.slot_bytes) {
        problems.push(format!(
            "slot size {} bytes does not match {} samples × {} channels × 4",
            g.slot_bytes, g.frame_samples, g.channels
        ));
    }
    let slots = u64::from(g.slot_count);
    let meta_end = slots.checked_mul(u64::from(g.meta_stride)).and_then(|n| n.checked_add(g.meta_offset));
    if meta_end.is_none_or(|end| end > g.samples_offset) || g.samples_offset % 64 != 0 {
        problems.push(format!("samples offset {} overlaps the metadata or is unaligned", g.samples_offset));
    }
    if !problems.is_empty() {
        return Err(invalid(problems.join("; ")));
    }
    let samples_end = slots.checked_mul(g.slot_bytes).and_then(|n| n.checked_add(g.samples_offset));
    match samples_end {
        Some(end) if end <= total_size => Ok(g),
        Some(end) => Err(LayoutError::Truncated { needed: end, actual: total_size }),
        None => Err(invalid("the samples section overflows".into())),
    }
}
