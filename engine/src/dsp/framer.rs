//! Cuts a continuous mono stream into frames of a fixed size.

/// Accumulates samples and hands out whole frames.
pub struct Framer {
    buffer: Vec<f32>,
    filled: usize,
    /// Ring-rate samples handed out in frames so far.
    emitted: u64,
}

impl Framer {
    /// A framer for frames of `frame_samples` samples.
    pub fn new(frame_samples: usize) -> Framer {
        Framer { buffer: vec![0.0; frame_samples], filled: 0, emitted: 0 }
    }

    /// Samples of the frame being filled so far.
    pub fn filled(&self) -> usize {
        self.filled
    }

    /// Samples in a frame.
    pub fn frame_len(&self) -> usize {
        self.buffer.len()
    }

    /// Appends `samples`, calling `on_frame(frame, first_sample_position)`
    /// for every frame completed. Never allocates.
    pub fn push(&mut self, mut samples: &[f32], mut on_frame: impl FnMut(&[f32], u64)) {
        while !samples.is_empty() {
            let take = (self.buffer.len() - self.filled).min(samples.len());
            self.buffer[self.filled..self.filled + take].copy_from_slice(&samples[..take]);
            self.filled += take;
            samples = &samples[take..];
            if self.filled == self.buffer.len() {
                on_frame(&self.buffer, self.emitted);
                self.emitted += self.buffer.len() as u64;
                self.filled = 0;
            }
        }
    }

    /// Zero-pads and hands out a partial last frame, if any, as
    /// `on_frame(frame, first_sample_position, valid_samples)`.
    pub fn finish(&mut self, on_frame: impl FnOnce(&[f32], u64, usize)) {
        if self.filled == 0 {
            return;
        }
        let valid = self.filled;
        self.buffer[valid..].fill(0.0);
        on_frame(&self.buffer, self.emitted, valid);
        self.emitted += self.buffer.len() as u64;
        self.filled = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_in_order_and_the_tail_is_padded() {
        let mut framer = Framer::new(4);
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
}
