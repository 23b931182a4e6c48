//! Sample-rate conversion with an anti-aliasing filter (rubato's FFT
//! resampler: a windowed-sinc low-pass applied in the frequency domain).
//!
//! The resampler's group delay is removed from the output, so output sample
//! `n` lines up with input time `n / out_rate`; frame timestamps computed
//! from sample positions stay correct.

use rubato::{FftFixedIn, Resampler as _};

use crate::error::EngineError;

/// A mono fixed-ratio resampler working in preallocated buffers.
pub struct Resampler {
    inner: FftFixedIn<f32>,
    pending: Vec<f32>,
    filled: usize,
    out: Vec<f32>,
    /// Output samples still to drop to cancel the filter's delay.
    skip: usize,
    in_total: u64,
    out_total: u64,
    in_rate: u32,
    out_rate: u32,
}

impl Resampler {
    /// Converts `in_rate` to `out_rate`, consuming input in chunks of about
    /// `chunk` samples (smaller chunks: less latency, more CPU).
    pub fn new(in_rate: u32, out_rate: u32, chunk: usize) -> Result<Resampler, EngineError> {
        let inner =
            FftFixedIn::<f32>::new(in_rate as usize, out_rate as usize, chunk, 1, 1).map_err(|e| {
                EngineError::BadInput(format!("cannot resample {in_rate} Hz to {out_rate} Hz: {e}"))
            })?;
        let pending = vec![0.0; inner.input_frames_next()];
        let out = vec![0.0; inner.output_frames_max()];
        let skip = inner.output_delay();
        Ok(Resampler { inner, pending, filled: 0, out, skip, in_total: 0, out_total: 0, in_rate, out_rate })
    }

    /// Feeds `samples`, calling `emit` with every block of output. Never allocates.
    pub fn push(&mut self, mut samples: &[f32], emit: &mut impl FnMut(&[f32])) {
        self.in_total += samples.len() as u64;
        while !samples.is_empty() {
            let take = (self.pending.len() - self.filled).min(samples.len());
            self.pending[self.filled..self.filled + take].copy_from_slice(&samples[..take]);
            self.filled += take;
            samples = &samples[take..];
            if self.filled == self.pending.len() {
                self.process(u64::MAX, emit);
            }
        }
    }

    /// Flushes what is buffered (zero-padded) and the filter's tail, emitting
    /// exactly as many samples in total as the input's duration calls for.
    pub fn finish(&mut self, emit: &mut impl FnMut(&[f32])) {
        let expected = (self.in_total * u64::from(self.out_rate) + u64::from(self.in_rate) / 2)
            / u64::from(self.in_rate);
        while self.out_total < expected {
            self.pending[self.filled..].fill(0.0);
            self.process(expected, emit);
        }
    }

    fn process(&mut self, limit: u64, emit: &mut impl FnMut(&[f32])) {
        let (_, produced) = self
            .inner
            .process_into_buffer(&[&self.pending[..]], &mut [&mut self.out[..]], None)
            .expect("buffers are sized by the resampler itself");
        self.filled = 0;
        let dropped = self.skip.min(produced);
        self.skip -= dropped;
        let usable = (produced - dropped).min((limit - self.out_total).try_into().unwrap_or(usize::MAX));
        if usable > 0 {
            emit(&self.out[dropped..dropped + usable]);
            self.out_total += usable as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
        let mut r = Resampler::new(from, to, 1024).unwrap();
        let mut out = Vec::new();
        for block in input.chunks(700) {
            r.push(block, &mut |s| out.extend_from_slice(s));
        }
        r.finish(&mut |s| out.extend_from_slice(s));
        out
    }

    fn sine(hz: f64, rate: u32, n: usize) -> Vec<f32> {
        (0..n).map(|i| (std::f64::consts::TAU * hz * i as f64 / f64::from(rate)).sin() as f32).collect()
    }

    #[test]
    fn output_length_matches_duration() {
        assert_eq!(resample(&vec![0.0; 48_000], 48_000, 16_000).len(), 16_000);
        assert_eq!(resample(&vec![0.0; 44_100], 44_100, 16_000).len(), 16_000);
        assert_eq!(resample(&vec![0.0; 1_000], 8_000, 16_000).len(), 2_000);
    }

    #[test]
    fn an_in_band_tone_keeps_its_phase_and_level() {
        let out = resample(&sine(440.0, 48_000, 48_000), 48_000, 16_000);
        let expected = sine(440.0, 16_000, 16_000);
        // Away from the edges, the delay is cancelled: same phase, same level.
        let err = out[2000..14000]
            .iter()
            .zip(&expected[2000..14000])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-2, "max error {err}");
    }

    #[test]
    fn a_tone_above_the_new_nyquist_is_filtered_out() {
        // 12 kHz cannot exist at 16 kHz; naive decimation would alias it to 4 kHz.
        let out = resample(&sine(12_000.0, 48_000, 48_000), 48_000, 16_000);
        let rms = (out[2000..14000].iter().map(|s| s * s).sum::<f32>() / 12_000.0).sqrt();
        assert!(rms < 1e-3, "aliased energy rms {rms}");
    }
}
