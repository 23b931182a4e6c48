//! What a writer may create: the one check of a ring's format, made by the
//! writer before it lays a ring out ([`crate::Geometry::new`]) and by readers
//! before they trust a header ([`crate::HeaderInfo::parse`]), in the same words
//! (the Python reader's `v2m.layout.parse_header` says them too).

/// The lowest and highest sample rates a writer accepts, in Hz.
pub const RATE_RANGE: std::ops::RangeInclusive<u32> = 1_000..=384_000;
/// The largest channel count a writer creates.
pub const MAX_CHANNELS: u32 = 16;
/// The largest frame a writer creates, in samples per channel.
pub const MAX_FRAME_SAMPLES: u32 = 1 << 16;
/// The largest slot count a writer creates (2^20 frames).
pub const MAX_SLOTS: u32 = 1 << 20;
/// The largest distance between metadata records a reader accepts.
pub const MAX_META_STRIDE: u32 = 4096;

/// What is wrong with a ring of `slot_count` frames of `frame_samples` ×
/// `channels` samples at `sample_rate`, one phrase a problem; empty if nothing.
///
/// ```
/// let problems = v2m_layout::format_problems(16_000, 1, 512, 3);
/// assert_eq!(problems, ["slot count 3 is not a power of two in 2..=1048576"]);
/// ```
pub fn format_problems(sample_rate: u32, channels: u32, frame_samples: u32, slot_count: u32) -> Vec<String> {
    let mut problems = Vec::new();
    if !RATE_RANGE.contains(&sample_rate) {
        problems.push(format!(
            "sample rate {sample_rate} Hz is outside {}..={}",
            RATE_RANGE.start(),
            RATE_RANGE.end()
        ));
    }
    if !(1..=MAX_CHANNELS).contains(&channels) {
        problems.push(format!("channel count {channels} is outside 1..={MAX_CHANNELS}"));
    }
    if !(1..=MAX_FRAME_SAMPLES).contains(&frame_samples) {
        problems.push(format!("frame size {frame_samples} is outside 1..={MAX_FRAME_SAMPLES}"));
    }
    if !(2..=MAX_SLOTS).contains(&slot_count) || !slot_count.is_power_of_two() {
        problems.push(format!("slot count {slot_count} is not a power of two in 2..={MAX_SLOTS}"));
    }
    problems
}
