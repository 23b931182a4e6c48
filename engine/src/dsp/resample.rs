//! Sample-rate conversion with an anti-aliasing filter: rubato's windowed-sinc
//! resampler (Blackman-Harris² window, cubic interpolation between 256
//! oversampled filter phases).
//!
//! Why sinc and not rubato's FFT resampler: the FFT resampler's filter is as
//! long as its FFT, so the short chunks live capture needs give a low cutoff
//! (speech above ~6 kHz was lost); the sinc filter's length does not depend
//! on the chunk.
//!
//! Alignment: output sample `n` lines up with input time `n / out_rate`, so
//! frame timestamps computed from sample positions stay correct. rubato's
//! reported delay is not the filter's real one, so the constructor measures it
//! with an impulse, then prepends a few zero input samples (each shifts the
//! output by `out/in` of a sample) to make the delay a whole number of output
//! samples, and drops those. What is left over is a small fraction of a
//! sample (0.02 at 48 → 16 kHz, under 0.2 for any downsampling).

use rubato::{
    calculate_cutoff, Resampler as _, SincFixedIn, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

use crate::error::EngineError;

/// Sinc filter length in input samples.
const SINC_LEN: usize = 256;

/// A mono fixed-ratio resampler working in preallocated buffers.
pub struct Resampler {
    inner: SincFixedIn<f32>,
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
    /// Converts `in_rate` to `out_rate`, consuming input in chunks of
    /// `chunk` samples (smaller chunks: less latency, more calls).
    pub fn new(in_rate: u32, out_rate: u32, chunk: usize) -> Result<Resampler, EngineError> {
        let mut resampler = Self::unaligned(in_rate, out_rate, chunk)?;
        let ratio = f64::from(out_rate) / f64::from(in_rate);
        let delay = resampler.measure_delay();
        let (prepend, skip) = alignment(delay, ratio);
        resampler.inner.reset();
        resampler.pending[..prepend].fill(0.0);
        resampler.filled = prepend;
        resampler.skip = skip;
        Ok(resampler)
    }

    fn unaligned(in_rate: u32, out_rate: u32, chunk: usize) -> Result<Resampler, EngineError> {
        let window = WindowFunction::BlackmanHarris2;
        let parameters = SincInterpolationParameters {
            sinc_len: SINC_LEN,
            f_cutoff: calculate_cutoff(SINC_LEN, window),
            interpolation: SincInterpolationType::Cubic,
            oversampling_factor: 256,
            window,
        };
        let ratio = f64::from(out_rate) / f64::from(in_rate);
        let inner = SincFixedIn::<f32>::new(ratio, 1.0, parameters, chunk, 1).map_err(|e| {
            EngineError::BadInput(format!("cannot resample {in_rate} Hz to {out_rate} Hz: {e}"))
        })?;
        let pending = vec![0.0; inner.input_frames_next()];
        let out = vec![0.0; inner.output_frames_max()];
        Ok(Resampler {
            inner,
            pending,
            filled: 0,
            out,
            skip: 0,
            in_total: 0,
            out_total: 0,
            in_rate,
            out_rate,
        })
    }

    /// The filter's true delay in output samples (may be fractional or
    /// negative), from where an impulse comes out. Allocates; setup only.
    fn measure_delay(&mut self) -> f64 {
        let at = 8 * SINC_LEN + self.pending.len();
        let mut input = vec![0.0f32; 2 * at];
        input[at] = 1.0;
        let mut output = Vec::new();
        self.push(&input, &mut |s| output.extend_from_slice(s));
        self.finish(&mut |s| output.extend_from_slice(s));
        self.in_total = 0;
        self.out_total = 0;
        self.filled = 0;
        if output.len() < 3 {
            return 0.0; // too few output samples to see the impulse: nothing to align
        }
        let peak = (1..output.len() - 1).max_by(|&a, &b| output[a].total_cmp(&output[b])).unwrap_or(1);
        // Parabola through the peak and its neighbours.
        let (l, c, r) = (f64::from(output[peak - 1]), f64::from(output[peak]), f64::from(output[peak + 1]));
        let vertex = peak as f64 + 0.5 * (l - r) / (l - 2.0 * c + r);
        let ideal = at as f64 * f64::from(self.out_rate) / f64::from(self.in_rate);
        let delay = vertex - ideal;
        if delay.is_finite() {
            delay
        } else {
            0.0
        }
    }

    /// The most output one `push` of `input` samples, or the `finish`, can
    /// emit in total: a block per whole chunk, the filter's tail, and margin.
    pub fn most_output_for(&self, input: usize) -> usize {
        (input / self.pending.len() + 4) * self.out.len()
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

/// Zero input samples to prepend and output samples to drop so that a filter
/// delayed by `delay` output samples comes out aligned: each prepended sample
/// adds `ratio` (= out/in) to the delay, which must end up whole and ≥ 0.
fn alignment(delay: f64, ratio: f64) -> (usize, usize) {
    let candidates = (2.0 / ratio).ceil() as usize + (delay.min(0.0).abs() / ratio).ceil() as usize + 2;
    let (prepend, shifted) = (0..candidates.min(4096))
        .map(|m| (m, delay + m as f64 * ratio))
        .filter(|(_, d)| *d > -0.5)
        .min_by(|a, b| (a.1 - a.1.round()).abs().total_cmp(&(b.1 - b.1.round()).abs()))
        .unwrap_or((0, delay.max(0.0)));
    (prepend, shifted.round().max(0.0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
        resample_chunked(input, from, to, 1024)
    }

    fn resample_chunked(input: &[f32], from: u32, to: u32, chunk: usize) -> Vec<f32> {
        let mut r = Resampler::new(from, to, chunk).unwrap();
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
    fn an_impulse_comes_out_where_it_went_in() {
        for (from, chunk) in
            [(48_000u32, 1024usize), (48_000, 96), (44_100, 1024), (44_100, 96), (8_000, 1024), (22_050, 512)]
        {
            let mut input = vec![0.0f32; from as usize];
            input[from as usize / 2] = 1.0;
            let out = resample_chunked(&input, from, 16_000, chunk);
            let peak = (0..out.len()).max_by(|&a, &b| out[a].total_cmp(&out[b])).unwrap();
            assert_eq!(peak, 8_000, "{from} Hz, chunk {chunk}");
        }
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
