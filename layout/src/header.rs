//! The segment header: identity, format, VAD configuration, and the hot
//! fields the writer updates per frame, each on its own cache line.

use std::mem::{offset_of, size_of};
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::config::RingConfig;
use crate::protocol::{FORMAT_F32LE, MAGIC, VAD_CHANNEL_MIX, VERSION_MAJOR, VERSION_MINOR};
use crate::sizes::{CACHE_LINE, HEADER_DEFINED, HEADER_SIZE, HEADER_USED};

/// The first 4096 bytes of the segment.
///
/// Fields that are plain integers are written once, while the segment is
/// still private to the writer (before it is published under its name), and
/// never change afterwards. Atomic fields change while readers watch.
///
/// Hot fields are cache-padded: `write_seq` and `futex` each sit alone on a
/// cache line, so readers spinning on one do not slow the writer's stores to
/// the other or to the statistics; the padding arrays exist only for that.
///
/// ```
/// use std::mem::offset_of;
/// use v2m_layout::Header;
/// assert_eq!(offset_of!(Header, write_seq), 320);
/// assert_eq!(std::mem::size_of::<Header>(), 4096);
/// ```
#[repr(C, align(64))]
pub struct Header {
    // --- line 0: identity ---
    /// `MAGIC`.
    pub magic: [u8; 8],
    /// `VERSION_MAJOR` of the writer.
    pub version_major: u16,
    /// `VERSION_MINOR` of the writer.
    pub version_minor: u16,
    /// Bytes of header; the metadata section starts at or after it.
    pub header_size: u32,
    /// Random id, new on every engine start: a reader that sees it change
    /// knows the ring it follows was replaced.
    pub generation: u64,
    /// Process id of the writer.
    pub writer_pid: u32,
    /// `STATE_STARTING` → `STATE_RUNNING` → `STATE_CLOSED`, never backwards.
    pub state: AtomicU32,
    /// CLOCK_MONOTONIC ns when the segment was created.
    pub created_mono_ns: u64,
    /// CLOCK_REALTIME ns when the segment was created (for display only).
    pub created_real_ns: u64,
    /// Bytes of the whole segment; equals the file size.
    pub total_size: u64,
    _pad0: [u8; 8],

    // --- line 1: format and geometry ---
    /// Frames per second of the published audio.
    pub sample_rate: u32,
    /// Interleaved channels per frame (1 in everything the engine writes today).
    pub channels: u32,
    /// Samples per channel in one frame.
    pub frame_samples: u32,
    /// `FORMAT_F32LE`.
    pub sample_format: u32,
    /// Slots in the ring; a power of two.
    pub slot_count: u32,
    /// Bytes from one slot's metadata record to the next.
    pub meta_stride: u32,
    /// Byte offset of slot 0's metadata record.
    pub meta_offset: u64,
    /// Byte offset of slot 0's samples.
    pub samples_offset: u64,
    /// Bytes from one slot's samples to the next (`frame_samples × channels × 4`).
    pub slot_bytes: u64,
    _pad1: [u8; 16],

    // --- line 2: how the engine was configured ---
    /// `VAD_OFF`, `VAD_ENERGY` or `VAD_SILERO`.
    pub vad_kind: u32,
    /// Probability at which speech starts.
    pub vad_threshold: f32,
    /// Probability below which speech may end.
    pub vad_neg_threshold: f32,
    /// Milliseconds below `vad_neg_threshold` before the speech flag drops.
    pub vad_min_silence_ms: u32,
    /// Replay speed of a file or synthetic source in multiples of real time;
    /// 0 means as fast as possible; 1 for live capture.
    pub source_speed: f32,
    /// `ORIGIN_ENGINE` (the ring's frames come from its own source) or
    /// `ORIGIN_MIRROR` (received from another host's ring, `origin_*` say which).
    /// Since 1.3.
    pub origin_kind: u32,
    /// The index of the first frame the writer published (0 for an engine; where a
    /// mirror joined its source). No frame before it was ever in this ring. Since 1.3.
    pub first_index: u64,
    /// The ring channel the VAD listened to, or `VAD_CHANNEL_MIX`: the average
    /// of all of them. Since 1.4.
    pub vad_channel: u32,
    _pad2: [u8; 28],

    // --- lines 3–4: what is being captured ---
    /// The `--source` the engine was started with, UTF-8, NUL-padded.
    pub source: [u8; 128],

    // --- line 5: the publication counter ---
    /// Frames published so far; frame `write_seq − 1` is the newest. Stored
    /// with `Release` after the frame's slot is complete.
    pub write_seq: AtomicU64,
    _pad3: [u8; CACHE_LINE - 8],

    // --- line 6: the futex word ---
    /// Incremented (wrapping) after every `write_seq` change and on close,
    /// then woken with `FUTEX_WAKE`; readers `FUTEX_WAIT` on it.
    pub futex: AtomicU32,
    _pad4: [u8; CACHE_LINE - 4],

    // --- line 7: statistics ---
    /// Engine statistics, updated by the writer.
    pub stats: Stats,

    // --- line 8 (since 1.2): the samples counter ---
    /// Frames whose samples are published: frame `sample_seq − 1`'s samples
    /// can be read (under its `SlotSamples` stamp) while its VAD still runs.
    /// Always `≥ write_seq`, at most one frame ahead of it.
    pub sample_seq: AtomicU64,
    _pad5: [u8; CACHE_LINE - 8],

    // --- line 9 (since 1.2): the samples futex word ---
    /// Incremented (wrapping) after every `sample_seq` change and on close,
    /// then woken: readers that take samples first `FUTEX_WAIT` on it.
    pub sample_futex: AtomicU32,
    _pad6: [u8; CACHE_LINE - 4],

    // --- line 10 (since 1.3): the source's clock ---
    /// CLOCK_REALTIME − CLOCK_MONOTONIC of the host that captured the frames, in
    /// ns (`i64` bits): a reader adds it to `capture_ns` for the source's wall-clock
    /// time. An engine writes its own at creation; a mirror keeps its source's.
    pub source_clock_offset_ns: AtomicU64,
    _pad7: [u8; CACHE_LINE - 8],

    // --- lines 11–15 (since 1.3): where a mirror's frames come from ---
    /// The source's host name, UTF-8, NUL-padded (empty for an engine).
    pub origin_host: [u8; 64],
    /// The source's ring name, UTF-8, NUL-padded (empty for an engine).
    pub origin_ring: [u8; 64],
    /// The key expression the frames travel under, UTF-8, NUL-padded.
    pub origin_key: [u8; 128],
    /// The source ring's generation (0 for an engine): a mirror restarted under the
    /// same name continues the frame indices of a ring of the same source.
    pub origin_generation: u64,

    _reserved: [u8; HEADER_SIZE - HEADER_DEFINED],
}

/// Engine statistics, one cache line; every counter only grows.
#[repr(C)]
pub struct Stats {
    /// Capture device overruns (xruns) reported by the driver.
    pub device_overruns: AtomicU64,
    /// Samples lost before they reached the ring (device overruns, a full
    /// in-process queue).
    pub samples_lost: AtomicU64,
    /// Times the source restarted (file looped, device reopened).
    pub source_restarts: AtomicU64,
    /// Frames published with `FLAG_DISCONTINUITY`.
    pub discontinuities: AtomicU64,
    /// Total ns spent in the VAD.
    pub vad_ns_total: AtomicU64,
    /// Longest single VAD call in ns.
    pub vad_ns_max: AtomicU64,
    /// Frames the VAD ran on.
    pub vad_frames: AtomicU64,
    /// CLOCK_MONOTONIC ns of the most recent publish.
    pub last_publish_ns: AtomicU64,
}

impl Header {
    /// A header with `magic`, versions and `header_size` filled in and every
    /// other field zero, ready for the writer to fill while private.
    ///
    /// ```
    /// let h = v2m_layout::Header::new_zeroed();
    /// assert_eq!(h.magic, v2m_layout::MAGIC);
    /// ```
    pub fn new_zeroed() -> Box<Header> {
        // SAFETY: every field of Header is an integer, float, byte array or
        // atomic integer, for all of which all-zero bytes are a valid value.
        let mut header: Box<Header> = unsafe { Box::new(std::mem::zeroed()) };
        header.set_identity();
        header
    }

    /// Writes `magic`, this crate's layout version and `header_size`: what
    /// makes a zeroed header a v2m header.
    pub fn set_identity(&mut self) {
        self.magic = MAGIC;
        self.version_major = VERSION_MAJOR;
        self.version_minor = VERSION_MINOR;
        self.header_size = HEADER_SIZE as u32;
    }

    /// Writes the ring's format, section offsets (and `FORMAT_F32LE`), VAD
    /// configuration, replay speed and source text into the header: the one
    /// place a [`RingConfig`] becomes header fields.
    ///
    /// ```
    /// use v2m_layout::{Geometry, Header, RingConfig, VadConfig, VadKind};
    /// let geometry = Geometry::new(16_000, 1, 512, 8).unwrap();
    /// let vad = VadConfig { kind: VadKind::Energy, threshold: 0.5, neg_threshold: 0.35, min_silence_ms: 100, channel: None };
    /// let mut h = Header::new_zeroed();
    /// let config = RingConfig {
    ///     geometry, vad, source_speed: 1.0, source: "tone:440".into(), first_index: 0, origin: Default::default(),
    /// };
    /// h.set_config(&config);
    /// assert_eq!((h.slot_count, h.total_size, h.vad_kind), (8, geometry.total_size, 1));
    /// ```
    pub fn set_config(&mut self, config: &RingConfig) {
        let g = &config.geometry;
        self.total_size = g.total_size;
        self.sample_rate = g.sample_rate;
        self.channels = g.channels;
        self.frame_samples = g.frame_samples;
        self.sample_format = FORMAT_F32LE;
        self.slot_count = g.slot_count;
        self.meta_stride = g.meta_stride;
        self.meta_offset = g.meta_offset;
        self.samples_offset = g.samples_offset;
        self.slot_bytes = g.slot_bytes;
        self.vad_kind = config.vad.kind.code();
        self.vad_threshold = config.vad.threshold;
        self.vad_neg_threshold = config.vad.neg_threshold;
        self.vad_min_silence_ms = config.vad.min_silence_ms;
        self.vad_channel = config.vad.channel.unwrap_or(VAD_CHANNEL_MIX);
        self.source_speed = config.source_speed;
        self.set_source_text(&config.source);
        self.first_index = config.first_index;
        self.origin_kind = config.origin.kind.code();
        put_text(&mut self.origin_host, &config.origin.host);
        put_text(&mut self.origin_ring, &config.origin.ring);
        put_text(&mut self.origin_key, &config.origin.key);
        self.origin_generation = config.origin.generation;
    }

    /// The `source` field as text.
    pub fn source_text(&self) -> String {
        text_of(&self.source)
    }

    /// Stores `text` in `source`, cut at a character boundary to fit with a NUL.
    pub fn set_source_text(&mut self, text: &str) {
        put_text(&mut self.source, text);
    }
}

/// A NUL-padded UTF-8 text field's text (lossy: the bytes came from another process).
pub fn text_of(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Stores `text` in a text field, cut at a character boundary to fit with a NUL.
pub fn put_text(field: &mut [u8], text: &str) {
    let mut end = text.len().min(field.len() - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    field.fill(0);
    field[..end].copy_from_slice(&text.as_bytes()[..end]);
}

// Compile-time proof that the Rust types match the offsets in LAYOUT.md.
const _: () = {
    assert!(size_of::<Header>() == HEADER_SIZE);
    assert!(size_of::<Stats>() == CACHE_LINE);
    assert!(offset_of!(Header, version_major) == 8);
    assert!(offset_of!(Header, version_minor) == 10);
    assert!(offset_of!(Header, header_size) == 12);
    assert!(offset_of!(Header, generation) == 16);
    assert!(offset_of!(Header, writer_pid) == 24);
    assert!(offset_of!(Header, state) == 28);
    assert!(offset_of!(Header, created_mono_ns) == 32);
    assert!(offset_of!(Header, created_real_ns) == 40);
    assert!(offset_of!(Header, total_size) == 48);
    assert!(offset_of!(Header, sample_rate) == 64);
    assert!(offset_of!(Header, channels) == 68);
    assert!(offset_of!(Header, frame_samples) == 72);
    assert!(offset_of!(Header, sample_format) == 76);
    assert!(offset_of!(Header, slot_count) == 80);
    assert!(offset_of!(Header, meta_stride) == 84);
    assert!(offset_of!(Header, meta_offset) == 88);
    assert!(offset_of!(Header, samples_offset) == 96);
    assert!(offset_of!(Header, slot_bytes) == 104);
    assert!(offset_of!(Header, vad_kind) == 128);
    assert!(offset_of!(Header, vad_threshold) == 132);
    assert!(offset_of!(Header, vad_neg_threshold) == 136);
    assert!(offset_of!(Header, vad_min_silence_ms) == 140);
    assert!(offset_of!(Header, source_speed) == 144);
    assert!(offset_of!(Header, source) == 192);
    assert!(offset_of!(Header, write_seq) == 320);
    assert!(offset_of!(Header, futex) == 384);
    assert!(offset_of!(Header, stats) == 448);
    assert!(offset_of!(Header, stats) + size_of::<Stats>() == HEADER_USED);
    assert!(offset_of!(Header, sample_seq) == 512);
    assert!(offset_of!(Header, sample_futex) == 576);
    assert!(offset_of!(Header, origin_kind) == 148);
    assert!(offset_of!(Header, first_index) == 152);
    assert!(offset_of!(Header, vad_channel) == 160);
    assert!(offset_of!(Header, source_clock_offset_ns) == 640);
    assert!(offset_of!(Header, origin_host) == 704);
    assert!(offset_of!(Header, origin_ring) == 768);
    assert!(offset_of!(Header, origin_key) == 832);
    assert!(offset_of!(Header, origin_generation) == 960);
    assert!(offset_of!(Header, _reserved) == HEADER_DEFINED);
    assert!(offset_of!(Stats, samples_lost) == 8);
    assert!(offset_of!(Stats, source_restarts) == 16);
    assert!(offset_of!(Stats, discontinuities) == 24);
    assert!(offset_of!(Stats, vad_ns_total) == 32);
    assert!(offset_of!(Stats, vad_ns_max) == 40);
    assert!(offset_of!(Stats, vad_frames) == 48);
    assert!(offset_of!(Stats, last_publish_ns) == 56);
};

impl Header {
    /// Every header field by name with its byte offset and size, for the
    /// conformance test that compares this crate with the Python reader.
    ///
    /// ```
    /// let fields = v2m_layout::Header::field_table();
    /// assert!(fields.iter().any(|&(name, off, size)| name == "write_seq" && off == 320 && size == 8));
    /// ```
    pub fn field_table() -> Vec<(&'static str, usize, usize)> {
        macro_rules! f {
            ($($field:ident : $ty:ty),* $(,)?) => {
                vec![$((stringify!($field), offset_of!(Header, $field), size_of::<$ty>())),*]
            };
        }
        macro_rules! s {
            ($($field:ident),* $(,)?) => {
                vec![$((stringify!($field), offset_of!(Header, stats) + offset_of!(Stats, $field), 8)),*]
            };
        }
        let mut fields = f!(
            magic: [u8; 8], version_major: u16, version_minor: u16, header_size: u32,
            generation: u64, writer_pid: u32, state: u32, created_mono_ns: u64,
            created_real_ns: u64, total_size: u64, sample_rate: u32, channels: u32,
            frame_samples: u32, sample_format: u32, slot_count: u32, meta_stride: u32,
            meta_offset: u64, samples_offset: u64, slot_bytes: u64, vad_kind: u32,
            vad_threshold: f32, vad_neg_threshold: f32, vad_min_silence_ms: u32,
            source_speed: f32, source: [u8; 128], write_seq: u64, futex: u32,
            sample_seq: u64, sample_futex: u32, origin_kind: u32, first_index: u64, vad_channel: u32,
            source_clock_offset_ns: u64, origin_host: [u8; 64], origin_ring: [u8; 64],
            origin_key: [u8; 128], origin_generation: u64,
        );
        fields.extend(s!(
            device_overruns,
            samples_lost,
            source_restarts,
            discontinuities,
            vad_ns_total,
            vad_ns_max,
            vad_frames,
            last_publish_ns,
        ));
        fields
    }
}
