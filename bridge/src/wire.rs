//! What travels between a publisher and its mirrors: a batch of whole frames
//! (binary, little-endian, versioned) and the ring's configuration (JSON, served by
//! the publisher's queryable so a late joiner learns the geometry before a frame).
//!
//! A batch is
//!
//! ```text
//! magic "V2MF" | version u16 | flags u16 | generation u64 | clock_offset_ns i64
//! | samples_per_frame u32 | count u32                                 (32 bytes)
//! then `count` times:
//! index u64 | capture_ns u64 | arrival_ns u64 | vad_prob f32 | rms f32 | peak f32
//! | flags u32 | valid_samples u32 | speech u32                        (48 bytes)
//! | samples_per_frame × f32 samples, interleaved
//! ```
//!
//! `flags` bit 0 (`BATCH_END`): the source ring closed after these frames (the batch
//! may hold none). Samples travel as their bit patterns, so a mirror's frames are bit-exact. Decoding
//! trusts nothing: whatever the network delivers is either a well-formed batch or
//! an error that says what is wrong, never a panic.

use serde_json::{json, Value};
use v2m_layout::seqlock::FrameRecord;
use v2m_layout::{
    Geometry, HeaderInfo, Origin, OriginKind, RingConfig, VadConfig, VadKind, MAX_CHANNELS, MAX_FRAME_SAMPLES,
};

/// The first bytes of every batch.
pub const MAGIC: [u8; 4] = *b"V2MF";
/// The batch format this bridge writes and reads.
pub const VERSION: u16 = 1;
/// Batch flag: the source ring closed after this batch's frames.
pub const BATCH_END: u16 = 1;
/// Bytes before the first frame.
pub const BATCH_HEADER: usize = 32;
/// Bytes of one frame's record before its samples.
pub const FRAME_RECORD: usize = 48;
/// Most frames in one batch: a bound a decoder checks before it trusts a count.
pub const MAX_BATCH_FRAMES: usize = 256;
/// The bytes a publisher fills a batch to: under Zenoh's 64 KiB wire batch, so a
/// message of several frames travels unfragmented over TCP.
pub const MAX_BATCH_BYTES: usize = 60_000;

/// The source ring a publisher serves, as a mirror needs it to make its own.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceConfig {
    /// The host the frames were captured on.
    pub host: String,
    /// The source ring's name there.
    pub ring: String,
    /// The key the frames travel under.
    pub key: String,
    /// The source ring's generation (a new engine under the name, a new one).
    pub generation: u64,
    /// The source ring's configuration.
    pub config: RingConfig,
}

impl SourceConfig {
    /// What a publisher of `info` (ring `ring` on `host`, under `key`) announces.
    pub fn of(info: &HeaderInfo, host: &str, ring: &str, key: &str) -> SourceConfig {
        SourceConfig {
            host: host.into(),
            ring: ring.into(),
            key: key.into(),
            generation: info.generation,
            config: info.config.clone(),
        }
    }

    /// The configuration a mirror writes: the source's geometry and VAD, its first
    /// frame `first_index`, its origin this source.
    pub fn mirror_config(&self, first_index: u64) -> RingConfig {
        RingConfig {
            first_index,
            origin: Origin {
                kind: OriginKind::Mirror,
                host: self.host.clone(),
                ring: self.ring.clone(),
                key: self.key.clone(),
                generation: self.generation,
            },
            ..self.config.clone()
        }
    }

    /// The JSON a publisher's queryable replies with; `next_index` is the frame it
    /// sends next, where a mirror that joins now begins.
    pub fn to_json(&self, next_index: u64) -> String {
        let g = &self.config.geometry;
        let v = &self.config.vad;
        json!({
            "wire_version": VERSION,
            "host": self.host,
            "ring": self.ring,
            "key": self.key,
            "generation": self.generation,
            "next_index": next_index,
            "sample_rate": g.sample_rate,
            "channels": g.channels,
            "frame_samples": g.frame_samples,
            "slot_count": g.slot_count,
            "vad_kind": v.kind.code(),
            "vad_threshold": v.threshold,
            "vad_neg_threshold": v.neg_threshold,
            "vad_min_silence_ms": v.min_silence_ms,
            "vad_channel": v.channel,
            "source_speed": self.config.source_speed,
            "source": self.config.source,
        })
        .to_string()
    }

    /// Parses a publisher's reply, and the frame it sends next; the error says which
    /// field is missing or wrong.
    pub fn from_json(text: &[u8]) -> Result<(SourceConfig, u64), String> {
        let value: Value = serde_json::from_slice(text).map_err(|e| format!("not JSON: {e}"))?;
        let version = unsigned(&value, "wire_version")?;
        if version != u64::from(VERSION) {
            return Err(format!(
                "wire version {version}, this bridge speaks {VERSION}: run the same v2m-bridge on both hosts"
            ));
        }
        let small = |field: &str| -> Result<u32, String> {
            u32::try_from(unsigned(&value, field)?).map_err(|_| format!("{field} out of range"))
        };
        let geometry = Geometry::new(
            small("sample_rate")?,
            small("channels")?,
            small("frame_samples")?,
            small("slot_count")?,
        )
        .map_err(|e| format!("the source's geometry: {e}"))?;
        let vad = VadConfig {
            kind: VadKind::from_code(small("vad_kind")?),
            threshold: float(&value, "vad_threshold")?,
            neg_threshold: float(&value, "vad_neg_threshold")?,
            min_silence_ms: small("vad_min_silence_ms")?,
            // null or absent (a publisher from before multi-channel rings): the mix.
            channel: match value.get("vad_channel") {
                None | Some(Value::Null) => None,
                Some(_) => Some(small("vad_channel")?),
            },
        };
        let source = SourceConfig {
            host: text_field(&value, "host")?,
            ring: text_field(&value, "ring")?,
            key: text_field(&value, "key")?,
            generation: unsigned(&value, "generation")?,
            config: RingConfig {
                geometry,
                vad,
                source_speed: float(&value, "source_speed")?,
                source: text_field(&value, "source")?,
                first_index: 0,
                origin: Origin::default(),
            },
        };
        Ok((source, unsigned(&value, "next_index")?))
    }
}

fn unsigned(value: &Value, field: &str) -> Result<u64, String> {
    value.get(field).and_then(Value::as_u64).ok_or_else(|| format!("no whole number {field:?}"))
}

fn float(value: &Value, field: &str) -> Result<f32, String> {
    value.get(field).and_then(Value::as_f64).map(|f| f as f32).ok_or_else(|| format!("no number {field:?}"))
}

fn text_field(value: &Value, field: &str) -> Result<String, String> {
    value.get(field).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| format!("no text {field:?}"))
}

/// One frame as it travels: its record and its samples.
#[derive(Clone, Copy, Debug)]
pub struct WireFrame<'a> {
    /// Index, timestamps, VAD, flags, levels (`publish_ns`/`samples_ns` stay local).
    pub record: FrameRecord,
    /// The frame's samples as little-endian f32 bytes.
    samples: &'a [u8],
}

impl WireFrame<'_> {
    /// The samples into `out` (`samples_per_frame` long), bit for bit.
    pub fn samples_into(&self, out: &mut [f32]) {
        for (sample, bytes) in out.iter_mut().zip(self.samples.chunks_exact(4)) {
            *sample = f32::from_bits(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
        }
    }
}

/// A batch being filled by a publisher; its buffer is reused from batch to batch.
pub struct BatchWriter {
    bytes: Vec<u8>,
    count: u32,
    samples_per_frame: usize,
}

impl BatchWriter {
    /// An empty batch for frames of `samples_per_frame` samples.
    pub fn new(samples_per_frame: usize) -> BatchWriter {
        let capacity = BATCH_HEADER + 8 * (FRAME_RECORD + 4 * samples_per_frame);
        BatchWriter { bytes: Vec::with_capacity(capacity), count: 0, samples_per_frame }
    }

    /// Starts a new batch of the source's generation `generation`.
    pub fn begin(&mut self, generation: u64, clock_offset_ns: i64) {
        self.bytes.clear();
        self.count = 0;
        self.bytes.extend_from_slice(&MAGIC);
        self.bytes.extend_from_slice(&VERSION.to_le_bytes());
        self.bytes.extend_from_slice(&0u16.to_le_bytes());
        self.bytes.extend_from_slice(&generation.to_le_bytes());
        self.bytes.extend_from_slice(&clock_offset_ns.to_le_bytes());
        self.bytes.extend_from_slice(&(self.samples_per_frame as u32).to_le_bytes());
        self.bytes.extend_from_slice(&0u32.to_le_bytes());
    }

    /// Marks the batch the last of its ring: the source closed after it.
    pub fn end(&mut self) {
        self.bytes[6..8].copy_from_slice(&BATCH_END.to_le_bytes());
    }

    /// Appends one frame.
    pub fn push(&mut self, record: &FrameRecord, samples: &[f32]) {
        debug_assert_eq!(samples.len(), self.samples_per_frame);
        let b = &mut self.bytes;
        b.extend_from_slice(&record.index.to_le_bytes());
        b.extend_from_slice(&record.capture_ns.to_le_bytes());
        b.extend_from_slice(&record.arrival_ns.to_le_bytes());
        b.extend_from_slice(&record.vad_prob.to_bits().to_le_bytes());
        b.extend_from_slice(&record.rms.to_bits().to_le_bytes());
        b.extend_from_slice(&record.peak.to_bits().to_le_bytes());
        b.extend_from_slice(&record.flags.to_le_bytes());
        b.extend_from_slice(&record.valid_samples.to_le_bytes());
        b.extend_from_slice(&u32::from(record.speech).to_le_bytes());
        for sample in samples {
            b.extend_from_slice(&sample.to_bits().to_le_bytes());
        }
        self.count += 1;
        b[28..32].copy_from_slice(&self.count.to_le_bytes());
    }

    /// Frames in the batch.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the batch holds no frame.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether one more frame keeps the batch within `bytes`.
    pub fn has_room_within(&self, bytes: usize) -> bool {
        self.bytes.len() + FRAME_RECORD + 4 * self.samples_per_frame <= bytes
    }

    /// The encoded batch.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A received batch, checked: every frame inside its bytes.
#[derive(Debug)]
pub struct Batch<'a> {
    /// The source ring's generation.
    pub generation: u64,
    /// The source host's CLOCK_REALTIME − CLOCK_MONOTONIC, ns.
    pub clock_offset_ns: i64,
    /// Samples in every frame (channels × frame_samples).
    pub samples_per_frame: usize,
    /// The source ring closed after these frames.
    pub ended: bool,
    frames: &'a [u8],
}

impl<'a> Batch<'a> {
    /// Checks `bytes` is a whole batch of this version; says what is wrong if not.
    pub fn decode(bytes: &'a [u8]) -> Result<Batch<'a>, String> {
        if bytes.len() < BATCH_HEADER {
            return Err(format!("{} bytes, shorter than a batch header", bytes.len()));
        }
        if bytes[0..4] != MAGIC {
            return Err("not a v2m frame batch (wrong magic)".into());
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != VERSION {
            return Err(format!("batch version {version}, this bridge reads {VERSION}"));
        }
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let long = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let samples_per_frame = word(24) as usize;
        let count = word(28) as usize;
        if samples_per_frame == 0 || samples_per_frame > MAX_FRAME_SAMPLES as usize * MAX_CHANNELS as usize {
            return Err(format!("{samples_per_frame} samples per frame is outside the layout's limits"));
        }
        if count > MAX_BATCH_FRAMES {
            return Err(format!("{count} frames, more than a batch holds ({MAX_BATCH_FRAMES})"));
        }
        let expected = BATCH_HEADER + count * (FRAME_RECORD + 4 * samples_per_frame);
        if bytes.len() != expected {
            return Err(format!("{} bytes where {count} frames take {expected}", bytes.len()));
        }
        Ok(Batch {
            generation: long(8),
            clock_offset_ns: long(16) as i64,
            samples_per_frame,
            ended: u16::from_le_bytes([bytes[6], bytes[7]]) & BATCH_END != 0,
            frames: &bytes[BATCH_HEADER..],
        })
    }

    /// The batch's frames in order.
    pub fn frames(&self) -> impl Iterator<Item = WireFrame<'a>> + 'a {
        let stride = FRAME_RECORD + 4 * self.samples_per_frame;
        self.frames.chunks_exact(stride).map(|frame| {
            let word = |at: usize| u32::from_le_bytes(frame[at..at + 4].try_into().expect("4 bytes"));
            let long = |at: usize| u64::from_le_bytes(frame[at..at + 8].try_into().expect("8 bytes"));
            let record = FrameRecord {
                index: long(0),
                capture_ns: long(8),
                arrival_ns: long(16),
                vad_prob: f32::from_bits(word(24)),
                rms: f32::from_bits(word(28)),
                peak: f32::from_bits(word(32)),
                flags: word(36),
                valid_samples: word(40),
                speech: word(44) != 0,
                publish_ns: 0,
                samples_ns: 0,
            };
            WireFrame { record, samples: &frame[FRAME_RECORD..] }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: u64) -> FrameRecord {
        FrameRecord {
            index,
            capture_ns: 1_000 + index,
            publish_ns: 5,
            vad_prob: 0.25,
            speech: index % 2 == 1,
            rms: 0.5,
            peak: 1.0,
            flags: 3,
            valid_samples: 4,
            arrival_ns: 2_000 + index,
            samples_ns: 6,
        }
    }

    #[test]
    fn frames_round_trip_bit_exact() {
        let samples = [f32::NAN, -0.0, f32::MIN_POSITIVE / 2.0, 1.5];
        let mut batch = BatchWriter::new(4);
        batch.begin(77, -42);
        batch.push(&record(9), &samples);
        batch.push(&record(10), &samples);
        assert!(!Batch::decode(batch.bytes()).unwrap().ended);
        batch.end();
        let decoded = Batch::decode(batch.bytes()).expect("a batch");
        assert!(decoded.ended);
        assert_eq!((decoded.generation, decoded.clock_offset_ns, decoded.frames().count()), (77, -42, 2));
        let frames: Vec<_> = decoded.frames().collect();
        let mut out = [0f32; 4];
        frames[1].samples_into(&mut out);
        assert_eq!(out.map(f32::to_bits), samples.map(f32::to_bits));
        let r = frames[1].record;
        assert_eq!(
            (r.index, r.capture_ns, r.arrival_ns, r.flags, r.valid_samples, r.speech),
            (10, 1010, 2010, 3, 4, false)
        );
        assert!(frames[0].record.speech);
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        let mut batch = BatchWriter::new(4);
        batch.begin(1, 0);
        batch.push(&record(0), &[0.0; 4]);
        let good = batch.bytes().to_vec();
        for cut in 0..good.len() {
            assert!(Batch::decode(&good[..cut]).is_err(), "a batch cut at {cut} bytes");
        }
        let mut lying = good.clone();
        lying[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Batch::decode(&lying).unwrap_err().contains("more than a batch holds"));
        let mut huge = good.clone();
        huge[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Batch::decode(&huge).is_err());
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..10_000 {
            let mut noise = good.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % noise.len() as u64) as usize;
                noise[at] = (state >> 32) as u8;
            }
            if let Ok(batch) = Batch::decode(&noise) {
                let count = u32::from_le_bytes(noise[28..32].try_into().unwrap()) as usize;
                assert_eq!(batch.frames().count(), count);
            }
        }
    }

    #[test]
    fn config_round_trips_and_says_what_is_wrong() {
        let config = RingConfig {
            geometry: Geometry::new(16_000, 4, 512, 64).unwrap(),
            vad: VadConfig {
                kind: VadKind::Silero,
                threshold: 0.5,
                neg_threshold: 0.35,
                min_silence_ms: 100,
                channel: Some(2),
            },
            source_speed: 1.0,
            source: "file:/a.wav".into(),
            first_index: 0,
            origin: Origin::default(),
        };
        let source = SourceConfig {
            host: "pi".into(),
            ring: "mic".into(),
            key: "v2m/pi/mic".into(),
            generation: 5,
            config,
        };
        assert_eq!(SourceConfig::from_json(source.to_json(12).as_bytes()).unwrap(), (source.clone(), 12));
        assert!(SourceConfig::from_json(b"{").unwrap_err().contains("not JSON"));
        let no_rate = source.to_json(0).replace("\"sample_rate\"", "\"rate\"");
        assert!(SourceConfig::from_json(no_rate.as_bytes()).unwrap_err().contains("sample_rate"));
        let mirror = source.mirror_config(40);
        assert_eq!((mirror.first_index, mirror.origin.kind), (40, OriginKind::Mirror));
        assert_eq!((mirror.geometry.channels, mirror.vad.channel), (4, Some(2)));
        // A publisher from before multi-channel rings sends no vad_channel: the mix.
        let older = source.to_json(0).replace("\"vad_channel\":2,", "");
        assert!(!older.contains("vad_channel"), "{older}");
        assert_eq!(SourceConfig::from_json(older.as_bytes()).unwrap().0.config.vad.channel, None);
    }
}
