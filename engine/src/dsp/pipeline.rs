//! The DSP chain every source goes through on its way to frames: interleaved
//! source audio → the ring's channels (picked, or mixed to mono) → ring rate
//! (one resampler per channel, all alike, so the channels stay aligned) →
//! fixed-size interleaved frames. Buffers are allocated once; `push` never
//! allocates.

use super::{channels::ChannelSelection, framer::Framer, resample::Resampler};
use crate::error::EngineError;

/// Select channels, resample (when the rates differ) and cut frames.
pub struct FramePipeline {
    source_channels: usize,
    selection: ChannelSelection,
    /// The selected channels, interleaved, at the source rate.
    selected: Vec<f32>,
    /// Per ring channel when resampling: its input and its output.
    planes: Vec<Vec<f32>>,
    resamplers: Vec<Resampler>,
    resampled: Vec<Vec<f32>>,
    /// The resampled channels interleaved again.
    interleaved: Vec<f32>,
    framer: Framer,
}

impl FramePipeline {
    /// A pipeline from `source_channels` × `source_rate` to `frame_samples`-
    /// sample frames of the `selection`'s channels at `ring_rate`, taking up to
    /// `max_chunk` sample frames per `push`; each resampler consumes input in
    /// `resampler_chunk` pieces.
    pub fn new(
        source_rate: u32,
        source_channels: usize,
        selection: ChannelSelection,
        ring_rate: u32,
        frame_samples: usize,
        max_chunk: usize,
        resampler_chunk: usize,
    ) -> Result<FramePipeline, EngineError> {
        let ring_channels = selection.ring_channels();
        let mut resamplers = Vec::new();
        if source_rate != ring_rate {
            for _ in 0..ring_channels {
                resamplers.push(Resampler::new(source_rate, ring_rate, resampler_chunk)?);
            }
        }
        // The most one push (or the finish) can produce per channel.
        let most_out = resamplers.first().map_or(0, |r| r.most_output_for(max_chunk.max(resampler_chunk)));
        let planes = match resamplers.is_empty() {
            true => Vec::new(),
            false => vec![vec![0.0; max_chunk]; ring_channels],
        };
        Ok(FramePipeline {
            source_channels,
            selected: vec![0.0; max_chunk * ring_channels],
            planes,
            resampled: (0..resamplers.len()).map(|_| Vec::with_capacity(most_out)).collect(),
            interleaved: vec![0.0; most_out * ring_channels],
            resamplers,
            framer: Framer::new(frame_samples, ring_channels),
            selection,
        })
    }

    /// Sample frames in each frame handed out.
    pub fn frame_len(&self) -> usize {
        self.framer.frame_len()
    }

    /// How much of the next frame has arrived, 0.0 to below 1.0.
    pub fn frame_fill(&self) -> f64 {
        self.framer.filled() as f64 / self.framer.frame_len() as f64
    }

    /// Feeds interleaved samples (whole sample frames, at most `max_chunk`),
    /// calling `on_frame(frame, first_ring_sample_frame)` for every frame
    /// completed.
    pub fn push(&mut self, interleaved: &[f32], mut on_frame: impl FnMut(&[f32], u64)) {
        let frames = interleaved.len() / self.source_channels;
        let ring_channels = self.selection.ring_channels();
        let selected = &mut self.selected[..frames * ring_channels];
        self.selection.select(interleaved, self.source_channels, selected);
        if self.resamplers.is_empty() {
            self.framer.push(selected, &mut on_frame);
            return;
        }
        for (k, plane) in self.planes.iter_mut().enumerate() {
            for (p, frame) in plane[..frames].iter_mut().zip(selected.chunks_exact(ring_channels)) {
                *p = frame[k];
            }
        }
        let FramePipeline { planes, resamplers, resampled, .. } = self;
        for ((plane, resampler), out) in planes.iter().zip(resamplers.iter_mut()).zip(resampled.iter_mut()) {
            out.clear();
            resampler.push(&plane[..frames], &mut |s| out.extend_from_slice(s));
        }
        self.frame_resampled(|f, pos| on_frame(f, pos));
    }

    /// At the end of the source: flushes the resamplers and hands out the rest
    /// as `on_frame(frame, first_ring_sample_frame, valid_sample_frames)`, the
    /// last frame zero-padded (`valid_sample_frames` below the frame's).
    pub fn finish(&mut self, mut on_frame: impl FnMut(&[f32], u64, usize)) {
        if !self.resamplers.is_empty() {
            let FramePipeline { resamplers, resampled, .. } = self;
            for (resampler, out) in resamplers.iter_mut().zip(resampled.iter_mut()) {
                out.clear();
                resampler.finish(&mut |s| out.extend_from_slice(s));
            }
            let whole = self.framer.frame_len();
            self.frame_resampled(|f, pos| on_frame(f, pos, whole));
        }
        self.framer.finish(on_frame);
    }

    /// Interleaves what the resamplers produced and cuts it into frames. The
    /// resamplers are alike and were fed alike, so they produced alike.
    fn frame_resampled(&mut self, on_frame: impl FnMut(&[f32], u64)) {
        let ring_channels = self.resampled.len();
        let produced = self.resampled[0].len();
        debug_assert!(self.resampled.iter().all(|r| r.len() == produced));
        let out = &mut self.interleaved[..produced * ring_channels];
        for (k, channel) in self.resampled.iter().enumerate() {
            for (o, &s) in out.iter_mut().skip(k).step_by(ring_channels).zip(channel) {
                *o = s;
            }
        }
        self.framer.push(out, on_frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `input` through a pipeline in chunks of `chunk` sample frames; every
    /// frame with its position and valid-sample count.
    fn run(pipeline: &mut FramePipeline, input: &[f32], chunk: usize) -> Vec<(Vec<f32>, u64, usize)> {
        let mut frames = Vec::new();
        for piece in input.chunks(chunk * pipeline.source_channels) {
            let whole = pipeline.frame_len();
            pipeline.push(piece, |f, pos| frames.push((f.to_vec(), pos, whole)));
        }
        pipeline.finish(|f, pos, valid| frames.push((f.to_vec(), pos, valid)));
        frames
    }

    #[test]
    fn same_rate_mono_passes_through_bit_exact() {
        let mut pipeline = FramePipeline::new(16_000, 1, ChannelSelection::Mix, 16_000, 4, 7, 7).unwrap();
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
        let mut pipeline = FramePipeline::new(16_000, 2, ChannelSelection::Mix, 16_000, 2, 3, 3).unwrap();
        let input = [0.5, -0.5, 1.0, 0.0, 0.25, 0.75, -1.0, -0.5];
        let frames = run(&mut pipeline, &input, 3);
        assert_eq!(frames, vec![(vec![0.0, 0.5], 0, 2), (vec![0.5, -0.75], 2, 2)]);
    }

    #[test]
    fn a_resampled_level_keeps_its_value() {
        let mut pipeline =
            FramePipeline::new(48_000, 1, ChannelSelection::Mix, 16_000, 512, 1024, 1024).unwrap();
        let frames = run(&mut pipeline, &vec![0.25f32; 48_000], 1000);
        let middle: Vec<f32> = frames[5..25].iter().flat_map(|(f, _, _)| f.clone()).collect();
        assert!(middle.iter().all(|&s| (s - 0.25).abs() < 1e-3), "DC 0.25 stays 0.25");
    }

    #[test]
    fn stereo_48k_becomes_padded_mono_16k_frames() {
        let mut pipeline =
            FramePipeline::new(48_000, 2, ChannelSelection::Mix, 16_000, 512, 1024, 1024).unwrap();
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

    #[test]
    fn picked_channels_at_the_ring_rate_pass_through_bit_exact() {
        let mut pipeline =
            FramePipeline::new(16_000, 3, ChannelSelection::Pick(vec![2, 0]), 16_000, 2, 4, 4).unwrap();
        let input: Vec<f32> = (0..15).map(|i| (i as f32 * 0.37).sin() / 3.0).collect(); // 5 frames of 3
        let frames = run(&mut pipeline, &input, 4);
        let picked = |i: usize| [input[3 * i + 2], input[3 * i]];
        assert_eq!(frames[0], ([picked(0), picked(1)].concat(), 0, 2));
        assert_eq!(frames[1], ([picked(2), picked(3)].concat(), 2, 2));
        assert_eq!(frames[2], ([picked(4).to_vec(), vec![0.0, 0.0]].concat(), 4, 1));
    }

    #[test]
    fn resampled_channels_stay_apart_and_aligned() {
        // 48 kHz, four channels: a different level on each; an impulse on channel 2.
        let mut input = vec![0.0f32; 4 * 48_000];
        for frame in input.chunks_exact_mut(4) {
            frame[0] = 0.1;
            frame[1] = -0.2;
            frame[3] = 0.3;
        }
        input[4 * 24_000 + 2] = 1.0;
        let mut pipeline =
            FramePipeline::new(48_000, 4, ChannelSelection::Pick(vec![0, 1, 2, 3]), 16_000, 512, 1024, 96)
                .unwrap();
        let frames = run(&mut pipeline, &input, 1000);
        let ring: Vec<f32> = frames.iter().flat_map(|(f, _, _)| f.clone()).collect();
        let channel = |k: usize| ring.iter().skip(k).step_by(4).copied().collect::<Vec<f32>>();
        for (k, level) in [(0usize, 0.1f32), (1, -0.2), (3, 0.3)] {
            assert!(channel(k)[2000..14000].iter().all(|s| (s - level).abs() < 1e-3), "channel {k}");
        }
        let impulse = channel(2);
        let peak = (0..impulse.len()).max_by(|&a, &b| impulse[a].total_cmp(&impulse[b])).unwrap();
        assert_eq!(peak, 8_000, "the impulse comes out where it went in, on its own channel");
        assert_eq!(ring.len() / 4, frames.len() * 512);
    }
}
