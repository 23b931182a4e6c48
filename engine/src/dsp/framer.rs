//! Cuts a continuous interleaved stream into frames of a fixed size.

/// Accumulates interleaved samples and hands out whole frames.
pub struct Framer {
    buffer: Vec<f32>,
    channels: usize,
    /// Samples (all channels) of the frame being filled so far.
    filled: usize,
    /// Ring-rate sample frames handed out in frames so far.
    emitted: u64,
}

impl Framer {
    /// A framer for frames of `frame_samples` sample frames of `channels`
    /// interleaved samples each.
    pub fn new(frame_samples: usize, channels: usize) -> Framer {
        Framer { buffer: vec![0.0; frame_samples * channels], channels, filled: 0, emitted: 0 }
    }

    /// Sample frames of the frame being filled so far.
    pub fn filled(&self) -> usize {
        self.filled / self.channels
    }

    /// Sample frames in a frame.
    pub fn frame_len(&self) -> usize {
        self.buffer.len() / self.channels
    }

    /// Appends `samples` (whole sample frames), calling
    /// `on_frame(frame, first_sample_frame_position)` for every frame
    /// completed. Never allocates.
    pub fn push(&mut self, mut samples: &[f32], mut on_frame: impl FnMut(&[f32], u64)) {
        while !samples.is_empty() {
            let take = (self.buffer.len() - self.filled).min(samples.len());
            self.buffer[self.filled..self.filled + take].copy_from_slice(&samples[..take]);
            self.filled += take;
            samples = &samples[take..];
            if self.filled == self.buffer.len() {
                on_frame(&self.buffer, self.emitted);
                self.emitted += self.frame_len() as u64;
                self.filled = 0;
            }
        }
    }

    /// Zero-pads and hands out a partial last frame, if any, as
    /// `on_frame(frame, first_sample_frame_position, valid_sample_frames)`.
    pub fn finish(&mut self, on_frame: impl FnOnce(&[f32], u64, usize)) {
        if self.filled == 0 {
            return;
        }
        let valid = self.filled();
        self.buffer[self.filled..].fill(0.0);
        on_frame(&self.buffer, self.emitted, valid);
        self.emitted += self.frame_len() as u64;
        self.filled = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_in_order_and_the_tail_is_padded() {
        let mut framer = Framer::new(4, 1);
        let mut frames = Vec::new();
        let input: Vec<f32> = (0..10).map(|i| i as f32).collect();
        framer.push(&input[..3], |f, pos| frames.push((f.to_vec(), pos)));
        framer.push(&input[3..], |f, pos| frames.push((f.to_vec(), pos)));
        assert_eq!(frames, vec![(vec![0.0, 1.0, 2.0, 3.0], 0), (vec![4.0, 5.0, 6.0, 7.0], 4)]);
        let mut tail = None;
        framer.finish(|f, pos, valid| tail = Some((f.to_vec(), pos, valid)));
        assert_eq!(tail, Some((vec![8.0, 9.0, 0.0, 0.0], 8, 2)));
        framer.finish(|_, _, _| panic!("no second tail"));
    }

    #[test]
    fn interleaved_frames_count_positions_in_sample_frames() {
        let mut framer = Framer::new(2, 3);
        let mut frames = Vec::new();
        let input: Vec<f32> = (0..15).map(|i| i as f32).collect(); // 5 sample frames of 3
        framer.push(&input, |f, pos| frames.push((f.to_vec(), pos)));
        assert_eq!(
            frames,
            vec![((0..6).map(|i| i as f32).collect(), 0), ((6..12).map(|i| i as f32).collect(), 2)]
        );
        assert_eq!(framer.filled(), 1);
        let mut tail = None;
        framer.finish(|f, pos, valid| tail = Some((f.to_vec(), pos, valid)));
        assert_eq!(tail, Some((vec![12.0, 13.0, 14.0, 0.0, 0.0, 0.0], 4, 1)));
    }
}
