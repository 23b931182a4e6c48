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
