//! The frames a publisher sent last, kept so that a mirror which missed some can ask
//! for them again (`mirror --recover-ms`). Audio that comes late is lost audio, so
//! the store is short (`publish --keep-ms`) and a frame is only ever sent again when
//! a mirror asks for it.
//!
//! The store is allocated once per source generation and overwritten in place:
//! keeping a frame is a copy, never an allocation.

use v2m_layout::seqlock::FrameRecord;

use crate::wire::{BatchWriter, MAX_BATCH_BYTES, MAX_BATCH_FRAMES};

/// The last frames of one source generation, oldest first.
#[derive(Default)]
pub struct Recent {
    generation: u64,
    samples_per_frame: usize,
    records: Vec<FrameRecord>,
    samples: Vec<f32>,
    /// Where the next frame goes.
    next_slot: usize,
    /// How many slots hold a frame.
    held: usize,
}

impl Recent {
    /// Forgets every frame: a new generation of `samples_per_frame`-sample frames
    /// begins, of which the last `capacity` are kept (0: none).
    pub fn restart(&mut self, generation: u64, samples_per_frame: usize, capacity: usize) {
        self.generation = generation;
        self.samples_per_frame = samples_per_frame;
        self.records.clear();
        self.records.resize(capacity, FrameRecord::default());
        self.samples.clear();
        self.samples.resize(capacity * samples_per_frame, 0.0);
        self.next_slot = 0;
        self.held = 0;
    }

    /// Keeps one frame that was just sent, in place of the oldest.
    pub fn keep(&mut self, record: &FrameRecord, samples: &[f32]) {
        let capacity = self.records.len();
        if capacity == 0 || samples.len() != self.samples_per_frame {
            return;
        }
        let slot = self.next_slot;
        self.records[slot] = *record;
        self.samples[slot * self.samples_per_frame..(slot + 1) * self.samples_per_frame]
            .copy_from_slice(samples);
        self.next_slot = (slot + 1) % capacity;
        self.held = (self.held + 1).min(capacity);
    }

    /// The kept frames of generation `generation` with indices in `from..to`, as
    /// batches (each within the wire's limits) handed to `send`; how many frames.
    pub fn resend(
        &self,
        generation: u64,
        from: u64,
        to: u64,
        clock_offset_ns: i64,
        mut send: impl FnMut(&[u8]),
    ) -> usize {
        if generation != self.generation || self.held == 0 {
            return 0;
        }
        let capacity = self.records.len();
        let oldest = (self.next_slot + capacity - self.held) % capacity;
        let mut batch = BatchWriter::new(self.samples_per_frame);
        batch.begin(generation, clock_offset_ns);
        let mut sent = 0;
        for slot in (0..self.held).map(|n| (oldest + n) % capacity) {
            let record = &self.records[slot];
            if record.index < from || record.index >= to {
                continue;
            }
            if batch.len() == MAX_BATCH_FRAMES || !batch.has_room_within(MAX_BATCH_BYTES) {
                send(batch.bytes());
                batch.begin(generation, clock_offset_ns);
            }
            let samples = &self.samples[slot * self.samples_per_frame..(slot + 1) * self.samples_per_frame];
            batch.push(record, samples);
            sent += 1;
        }
        if !batch.is_empty() {
            send(batch.bytes());
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Batch;

    fn frame(index: u64) -> (FrameRecord, Vec<f32>) {
        (FrameRecord { index, capture_ns: index * 10, ..FrameRecord::default() }, vec![index as f32; 3])
    }

    fn resent(recent: &Recent, generation: u64, from: u64, to: u64) -> Vec<u64> {
        let mut indices = Vec::new();
        recent.resend(generation, from, to, 0, |bytes| {
            let batch = Batch::decode(bytes).expect("a well-formed batch");
            for frame in batch.frames() {
                let mut samples = [0f32; 3];
                frame.samples_into(&mut samples);
                assert_eq!(samples, [frame.record.index as f32; 3]);
                indices.push(frame.record.index);
            }
        });
        indices
    }

    #[test]
    fn keeps_the_last_frames_and_resends_a_range_in_order() {
        let mut recent = Recent::default();
        recent.restart(7, 3, 4);
        for index in 10..16 {
            let (record, samples) = frame(index);
            recent.keep(&record, &samples);
        }
        assert_eq!(resent(&recent, 7, 0, 100), vec![12, 13, 14, 15]);
        assert_eq!(resent(&recent, 7, 13, 15), vec![13, 14]);
        assert_eq!(resent(&recent, 7, 20, 30), Vec::<u64>::new());
        assert_eq!(resent(&recent, 8, 0, 100), Vec::<u64>::new(), "another generation's frames");
        recent.restart(8, 3, 4);
        assert_eq!(resent(&recent, 8, 0, 100), Vec::<u64>::new(), "forgotten on restart");
    }

    #[test]
    fn a_store_of_nothing_keeps_nothing() {
        let mut recent = Recent::default();
        recent.restart(1, 3, 0);
        let (record, samples) = frame(1);
        recent.keep(&record, &samples);
        assert_eq!(resent(&recent, 1, 0, 100), Vec::<u64>::new());
    }
}
