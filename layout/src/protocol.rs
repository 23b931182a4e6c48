//! The protocol's own values (`LAYOUT.md` §3, §4, §6, §9): identity and
//! version, the state machine, the codes of the format and the VAD, the frame
//! flags, and the seqlock's stamps.

/// The first eight bytes of every segment.
pub const MAGIC: [u8; 8] = *b"V2MRING\0";
/// Major layout version: a reader refuses any other major version.
pub const VERSION_MAJOR: u16 = 1;
/// Minor layout version: newer minors only add fields in reserved space and
/// new flag bits, so a reader accepts any minor of its major.
pub const VERSION_MINOR: u16 = 4;

/// `Header::state`: the engine is setting up; readers wait for `RUNNING`.
pub const STATE_STARTING: u32 = 0;
/// `Header::state`: frames are being published.
pub const STATE_RUNNING: u32 = 1;
/// `Header::state`: the writer published its last frame; no more will come.
pub const STATE_CLOSED: u32 = 2;

/// `Header::origin_kind`: the frames come from the writer's own source.
pub const ORIGIN_ENGINE: u32 = 0;
/// `Header::origin_kind`: the frames were received from another ring (a mirror).
pub const ORIGIN_MIRROR: u32 = 1;

/// `Header::vad_channel`: the VAD listened to the average of the ring's channels
/// (and so to the only channel of a mono ring). Since 1.4; rings of 1.0–1.3 are mono.
pub const VAD_CHANNEL_MIX: u32 = u32::MAX;

/// `Header::sample_format`: little-endian IEEE-754 float32, interleaved.
pub const FORMAT_F32LE: u32 = 1;

/// `Header::vad_kind`: no VAD; probability 0, flag false.
pub const VAD_OFF: u32 = 0;
/// `Header::vad_kind`: energy detector (RMS against an adaptive noise floor).
pub const VAD_ENERGY: u32 = 1;
/// `Header::vad_kind`: Silero VAD.
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
