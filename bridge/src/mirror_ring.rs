//! One mirrored ring: the local copy of one publisher's ring, written by the same
//! writer the engine uses, with the source's frame indices.
//!
//! Every frame that arrives is published as it came (samples bit for bit, VAD,
//! flags, index, capture and arrival stamps; the publish stamps are this host's).
//! A frame that did not arrive is a gap: the writer skips its index, so every
//! reader counts it in `dropped`, the header counts its samples in `samples_lost`,
//! and the first frame after it carries `FLAG_DISCONTINUITY`. A frame that comes
//! after a later one (late or repeated) is not written: its place is already
//! counted lost or filled.

use v2m_layout::seqlock::FrameRecord;
use v2m_layout::{OriginKind, FLAG_DISCONTINUITY, STATE_CLOSED};
use v2m_ring::reader::{RingReader, Start};
use v2m_ring::shm::RingName;
use v2m_ring::RingWriter;

use crate::error::BridgeError;
use crate::wire::{Batch, SourceConfig};

/// What a mirrored ring has seen since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorCounts {
    /// Frames written.
    pub frames: u64,
    /// Frames that never arrived (gaps).
    pub lost: u64,
    /// Frames that arrived after a later one, not written.
    pub late: u64,
}

/// A local ring fed from the network.
pub struct MirrorRing {
    writer: RingWriter,
    source: SourceConfig,
    name: RingName,
    frame: Vec<f32>,
    counts: MirrorCounts,
}

impl MirrorRing {
    /// Creates ring `name` with `source`'s geometry, its first frame `first_index`, or
    /// where a mirror of the same source that died under the name left off: the
    /// frames lost between are then a gap the new ring's readers count.
    pub fn create(
        name: &RingName,
        source: SourceConfig,
        first_index: u64,
        group_readable: bool,
    ) -> Result<MirrorRing, BridgeError> {
        let first_index =
            predecessor_end(name, &source).filter(|&end| end <= first_index).unwrap_or(first_index);
        let config = source.mirror_config(first_index);
        let writer = RingWriter::create(name, &config, group_readable)?;
        let frame = vec![0f32; config.geometry.samples_per_frame()];
        Ok(MirrorRing { writer, source, name: name.clone(), frame, counts: MirrorCounts::default() })
    }

    /// The source ring this mirrors.
    pub fn source(&self) -> &SourceConfig {
        &self.source
    }

    /// The local ring's name.
    pub fn name(&self) -> &RingName {
        &self.name
    }

    /// What was written, lost and late so far.
    pub fn counts(&self) -> MirrorCounts {
        self.counts
    }

    /// The index the ring will publish next.
    pub fn next_index(&self) -> u64 {
        self.writer.next_index()
    }

    /// Ends the ring as its source's did: closed, every reader told the stream ended.
    pub fn close(self) {
        drop(self);
    }

    /// Leaves the ring as a dead engine would (its source's engine died and another
    /// took its place): reattaching readers move to the ring that replaces it.
    pub fn abandon(self) {
        self.writer.abandon();
    }

    /// Writes a batch of the source's current generation.
    pub fn write(&mut self, batch: &Batch<'_>) -> Result<(), String> {
        if batch.samples_per_frame != self.frame.len() {
            return Err(format!(
                "frames of {} samples for a ring of {}",
                batch.samples_per_frame,
                self.frame.len()
            ));
        }
        self.writer.set_source_clock_offset(batch.clock_offset_ns);
        for frame in batch.frames() {
            let index = frame.record.index;
            let next = self.writer.next_index();
            if index < next {
                self.counts.late += 1;
                continue;
            }
            let mut flags = frame.record.flags;
            if index > next {
                let gap = index - next;
                self.writer.skip_to(index);
                let lost_samples = gap.saturating_mul(u64::from(self.source.config.geometry.frame_samples));
                self.writer.count(|stats| &stats.samples_lost, lost_samples);
                flags |= FLAG_DISCONTINUITY;
                self.counts.lost += gap;
            }
            frame.samples_into(&mut self.frame);
            self.writer.publish(&self.frame, &FrameRecord { flags, ..frame.record });
            self.counts.frames += 1;
        }
        Ok(())
    }
}

/// Where the mirror that wrote ring `name` before stopped, if it mirrored the same
/// source generation and died (a ring closed cleanly ended its stream).
fn predecessor_end(name: &RingName, source: &SourceConfig) -> Option<u64> {
    let reader = RingReader::open(name, Start::Latest).ok()?;
    let info = reader.info();
    let origin = &info.config.origin;
    let same = origin.kind == OriginKind::Mirror
        && origin.key == source.key
        && origin.generation == source.generation;
    (same && info.state != STATE_CLOSED && !reader.writer_alive()).then_some(info.write_seq)
}
