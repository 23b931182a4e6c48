//! The DSP chain every source goes through on its way to frames: interleaved
//! source audio → mono → ring rate → fixed-size frames. Buffers are allocated
//! once; `push` never allocates.

use super::{downmix::downmix, framer::Framer, resample::Resampler};
use crate::error::EngineError;

/// Downmix, resample (when the rates differ) and cut frames.
pub struct FramePipeline {
    channels: usize,
    mono: Vec<f32>,
    resampler: Option<Resampler>,
    framer: Framer,
}

impl FramePipeline {
    /// A pipeline from `channels` × `source_rate` to `frame_samples`-sample
    /// mono frames at `ring_rate`, taking up to `max_chunk` sample frames per
    /// `push`; the resampler consumes input in `resampler_chunk` pieces.
    pub fn new(
        source_rate: u32,
        channels: usize,
        ring_rate: u32,
        frame_samples: usize,
        max_chunk: usize,
        resampler_chunk: usize,
    ) -> Result<FramePipeline, EngineError> {
        let resampler = match source_rate == ring_rate {
            true => None,
            false => Some(Resampler::new(source_rate, ring_rate, resampler_chunk)?),
        };
        Ok(FramePipeline {
            channels,
            mono: vec![0.0; max_chunk],
            resampler,
            framer: Framer::new(frame_samples),
        })
    }

    /// How much of the next frame has arrived, 0.0 to below 1.0.
    pub fn frame_fill(&self) -> f64 {
        self.framer.filled() as f64 / self.framer.frame_len() as f64
    }

    /// Feeds interleaved samples (whole sample frames, at most `max_chunk`),
    /// calling `on_frame(frame, first_ring_sample)` for every frame completed.
    pub fn push(&mut self, interleaved: &[f32], mut on_frame: impl FnMut(&[f32], u64)) {
        let FramePipeline { channels, mono, resampler, framer } = self;
        let mono = &mut mono[..interleaved.len() / *channels];
        downmix(interleaved, *channels, mono);
        let mut to_frames = |samples: &[f32]| framer.push(samples, &mut on_frame);
        match resampler.as_mut() {
            Some(r) => r.push(mono, &mut to_frames),
            None => to_frames(mono),
        }
    }

    /// At the end of the source: flushes the resampler and hands out the rest
    /// as `on_frame(frame, first_ring_sample, valid_samples)`, the last frame
    /// zero-padded (`valid_samples < frame.len()`).
    pub fn finish(&mut self, mut on_frame: impl FnMut(&[f32], u64, usize)) {
        let FramePipeline { resampler, framer, .. } = self;
        if let Some(r) = resampler.as_mut() {
            r.finish(&mut |samples: &[f32]| framer.push(samples, |f, pos| on_frame(f, pos, f.len())));
        }
        framer.finish(on_frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `input` through a pipeline in chunks of `chunk` sample frames; every
    /// frame with its position and valid-sample count.
    fn run(pipeline: &mut FramePipeline, input: &[f32], chunk: usize) -> Vec<(Vec<f32>, u64, usize)> {
        let mut frames = Vec::new();
        for piece in input.chunks(chunk * pipeline.channels) {
            pipeline.push(piece, |f, pos| frames.push((f.to_vec(), pos, f.len())));
        }
        pipeline.finish(|f, pos, valid| frames.push((f.to_vec(), pos, valid)));
        frames
    }

    #[test]
    fn same_rate_mono_passes_through_bit_exact() {
        let mut pipeline = FramePipeline::new(16_000, 1, 16_000, 4, 7, 7).unwrap();
        let input: Vec<f32> = (0..10).map(|i| (i as f32 * 0.37).sin() / 3.0).collect();
        let frames = run(&mut pipeline, &input, 7); // chunks that do not align with frames
        assert_eq!(
            frames,
            vec![
                (input[0..4].to_vec(), 0, 4),
                (input[4..8].to_vec(), 4, 4),
                (vec![input[8], input[9], 0.0, 0.0], 8, 2),
            ]
        );
    }

    #[test]
    fn same_rate_stereo_is_averaged_sample_by_sample() {
        let mut pipeline = FramePipeline::new(16_000, 2, 16_000, 2, 3, 3).unwrap();
        let input = [0.5, -0.5, 1.0, 0.0, 0.25, 0.75, -1.0, -0.5];
        let frames = run(&mut pipeline, &input, 3);
        assert_eq!(frames, vec![(vec![0.0, 0.5], 0, 2), (vec![0.5, -0.75], 2, 2)]);
    }

    #[test]
    fn a_resampled_level_keeps_its_value() {
        let mut pipeline = FramePipeline::new(48_000, 1, 16_000, 512, 1024, 1024).unwrap();
        let frames = run(&mut pipeline, &vec![0.25f32; 48_000], 1000);
        let middle: Vec<f32> = frames[5..25].iter().flat_map(|(f, _, _)| f.clone()).collect();
        assert!(middle.iter().all(|&s| (s - 0.25).abs() < 1e-3), "DC 0.25 stays 0.25");
    }

    #[test]
    fn stereo_48k_becomes_padded_mono_16k_frames() {
        let mut pipeline = FramePipeline::new(48_000, 2, 16_000, 512, 1024, 1024).unwrap();
        let mut frames = Vec::new();
        let input = vec![0.25f32; 2 * 48_000]; // one second of stereo
        for chunk in input.chunks(2 * 1000) {
            pipeline.push(chunk, |f, pos| frames.push((f.len(), pos, f.len())));
        }
        pipeline.finish(|f, pos, valid| frames.push((f.len(), pos, valid)));
        // 16000 samples: 31 whole frames and a last one with 128 valid samples.
        assert_eq!(frames.len(), 32);
        assert!(frames.iter().enumerate().all(|(i, &(len, pos, _))| len == 512 && pos == i as u64 * 512));
        assert_eq!(frames[31].2, 16_000 - 31 * 512);
    }
}
