//! One mirrored ring: the local copy of one publisher's ring, written by the same
//! writer the engine uses, with the source's frame indices.
//!
//! Every frame that arrives is published as it came (samples bit for bit, VAD,
//! flags, index, capture and arrival stamps; the publish stamps are this host's).
//! A frame that did not arrive is a gap: the writer skips its index, so every
//! reader counts it in `dropped`, the header counts its samples in `samples_lost`,
//! and the first frame after it carries `FLAG_DISCONTINUITY`. A frame that comes
//! after a later one (late or repeated) is not written: its place is already
//! counted lost or filled. With a [`Holdback`] (`--recover-ms`), the frames after a
//! gap wait, within the bound, for the gap to be sent again before any is lost.

use std::ops::Range;
use std::time::{Duration, Instant};

use v2m_layout::seqlock::FrameRecord;
use v2m_layout::{OriginKind, FLAG_DISCONTINUITY, STATE_CLOSED};
use v2m_ring::reader::{RingReader, Start};
use v2m_ring::shm::RingName;
use v2m_ring::RingWriter;

use crate::error::BridgeError;
use crate::holdback::{Holdback, Offer};
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
    /// Frames written that came because the mirror asked for them again.
    pub recovered: u64,
}

/// A local ring fed from the network.
pub struct MirrorRing {
    out: Output,
    source: SourceConfig,
    name: RingName,
    frame: Vec<f32>,
    holdback: Option<Holdback>,
}

/// The writing end of a mirrored ring, and what it wrote.
struct Output {
    writer: RingWriter,
    counts: MirrorCounts,
    frame_samples: u64,
}

impl MirrorRing {
    /// Creates ring `name` with `source`'s geometry, its first frame `first_index`, or
    /// where a mirror of the same source that died under the name left off: the
    /// frames lost between are then a gap the new ring's readers count. A
    /// `recover` bound holds the frames after a gap up to that long.
    pub fn create(
        name: &RingName,
        source: SourceConfig,
        first_index: u64,
        group_readable: bool,
        recover: Duration,
    ) -> Result<MirrorRing, BridgeError> {
        let first_index =
            predecessor_end(name, &source).filter(|&end| end <= first_index).unwrap_or(first_index);
        let config = source.mirror_config(first_index);
        let writer = RingWriter::create(name, &config, group_readable)?;
        let frame = vec![0f32; config.geometry.samples_per_frame()];
        // Readers see at most a ring's worth of frames: holding more helps none.
        let holdback =
            (!recover.is_zero()).then(|| Holdback::new(recover, config.geometry.slot_count as usize));
        let frame_samples = u64::from(config.geometry.frame_samples);
        Ok(MirrorRing {
            out: Output { writer, counts: MirrorCounts::default(), frame_samples },
            source,
            name: name.clone(),
            frame,
            holdback,
        })
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
        self.out.counts
    }

    /// The index the ring will publish next.
    pub fn next_index(&self) -> u64 {
        self.out.writer.next_index()
    }

    /// When a held frame is due even if its gap is not filled.
    pub fn deadline(&self) -> Option<Instant> {
        self.holdback.as_ref().and_then(Holdback::deadline)
    }

    /// Ends the ring as its source's did: every held frame written, closed, every
    /// reader told the stream ended.
    pub fn close(mut self) {
        if let Some(holdback) = self.holdback.as_mut() {
            while let Some(held) = holdback.drain() {
                self.out.publish(&held.record, &held.samples, held.resent);
            }
        }
        drop(self);
    }

    /// Leaves the ring as a dead engine would (its source's engine died and another
    /// took its place): reattaching readers move to the ring that replaces it.
    pub fn abandon(self) {
        self.out.writer.abandon();
    }

    /// Writes a batch of the source's current generation (`resent`: one the mirror
    /// asked for again); the gaps it opens are handed to `ask_again`.
    pub fn write(
        &mut self,
        batch: &Batch<'_>,
        resent: bool,
        now: Instant,
        ask_again: &mut dyn FnMut(Range<u64>),
    ) -> Result<(), String> {
        if batch.samples_per_frame != self.frame.len() {
            return Err(format!(
                "frames of {} samples for a ring of {}",
                batch.samples_per_frame,
                self.frame.len()
            ));
        }
        self.out.writer.set_source_clock_offset(batch.clock_offset_ns);
        for frame in batch.frames() {
            let next = self.out.writer.next_index();
            if frame.record.index < next {
                self.out.counts.late += 1; // its place is written or given up: not decoded
                continue;
            }
            frame.samples_into(&mut self.frame);
            let offer = match self.holdback.as_mut() {
                None => Offer::WriteNow,
                Some(holdback) => holdback.offer(next, &frame.record, &self.frame, resent, now),
            };
            match offer {
                Offer::WriteNow => self.out.publish(&frame.record, &self.frame, resent),
                Offer::Held(gap) => gap.into_iter().for_each(&mut *ask_again),
                Offer::Late => self.out.counts.late += 1,
            }
        }
        self.release(now);
        Ok(())
    }

    /// Writes the held frames that are due at `now`.
    pub fn release(&mut self, now: Instant) {
        let Some(holdback) = self.holdback.as_mut() else { return };
        while let Some(held) = holdback.due(self.out.writer.next_index(), now) {
            self.out.publish(&held.record, &held.samples, held.resent);
            holdback.recycle(held);
        }
    }
}

impl Output {
    /// Publishes one frame at its own index; the indices skipped to reach it are a
    /// gap, counted and flagged.
    fn publish(&mut self, record: &FrameRecord, samples: &[f32], resent: bool) {
        let index = record.index;
        let next = self.writer.next_index();
        let mut flags = record.flags;
        if index > next {
            let gap = index - next;
            self.writer.skip_to(index);
            self.writer.count(|stats| &stats.samples_lost, gap.saturating_mul(self.frame_samples));
            flags |= FLAG_DISCONTINUITY;
            self.counts.lost += gap;
        }
        self.writer.publish(samples, &FrameRecord { flags, ..*record });
        self.counts.frames += 1;
        self.counts.recovered += u64::from(resent);
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
