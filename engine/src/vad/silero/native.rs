//! Silero VAD computed directly: the model's arithmetic without a graph runtime.
//!
//! Per window (576 samples at 16 kHz: 64 of context, 512 new; half at 8 kHz):
//!
//! 1. STFT: reflect-pad 64 (32) samples on the right, then each 256-sample
//!    (128) frame, hop 128 (64), times the model's 258×256 (130×128) basis,
//!    magnitude of each (real, imaginary) pair → 129 (65) bins × 4 frames.
//!    That basis is a Hann window times the DFT (checked when the model is
//!    loaded, to 1e-6), so a real FFT of the windowed frame computes the same
//!    with ~3 % of the arithmetic and without the basis's 264 KB of weights.
//! 2. Encoder: four 3-tap convolutions with ReLU, 129→128 (65→128), 128→64
//!    (stride 2), 64→64 (stride 2), 64→128: 4 → 4 → 2 → 1 → 1 time steps.
//! 3. Decoder: an LSTM cell (128, the carried state), ReLU, a 1×1 convolution
//!    to one value, sigmoid, mean over time steps.
//!
//! Everything is `y += xᵀ · W` over weights stored transposed so the inner
//! loop runs along contiguous memory (output channels): the compiler
//! vectorises it without reordering any sum, and with AVX2+FMA when the CPU
//! has them (checked once, at start). All buffers are allocated when the
//! model is loaded; a window allocates nothing. ONNX Runtime spends most of
//! its time on the other 115 graph nodes (constants, shapes, `If`s).

use std::path::Path;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use super::onnx_weights::BranchWeights;
use crate::error::EngineError;

/// Hidden size of the LSTM and of the state the caller carries: `[h; c]`.
pub const HIDDEN: usize = 128;

/// One 3-tap convolution, weights rearranged to `[tap][input channel][output channel]`.
struct Conv {
    inputs: usize,
    outputs: usize,
    stride: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl Conv {
    fn load(
        w: &mut BranchWeights,
        layer: usize,
        inputs: usize,
        outputs: usize,
        stride: usize,
    ) -> Result<Conv, EngineError> {
        let weight = w.take(&format!("encoder.{layer}.reparam_conv.weight"), &[outputs, inputs, 3])?;
        let bias = w.take(&format!("encoder.{layer}.reparam_conv.bias"), &[outputs])?;
        // [co][ci][tap] → [tap][ci][co]: for one tap, a plain matrix over the inputs.
        let by_tap = transpose(&weight.values, outputs, inputs * 3); // [(ci, tap)][co]
        let mut weights = Vec::with_capacity(by_tap.len());
        for tap in 0..3 {
            for ci in 0..inputs {
                let row = (ci * 3 + tap) * outputs;
                weights.extend_from_slice(&by_tap[row..row + outputs]);
            }
        }
        Ok(Conv { inputs, outputs, stride, weights, bias: bias.values })
    }

    /// Output steps for `steps` input steps (padding 1 each side).
    fn steps_out(&self, steps: usize) -> usize {
        (steps + 2 - 3) / self.stride + 1
    }

    /// `input` is `[steps][inputs]`; fills `output` `[steps_out][outputs]`, ReLU applied.
    /// Each block of weight rows is read once from memory and applied to every
    /// output step while it is in the L1 cache.
    #[inline(always)]
    fn apply(&self, input: &[f32], steps: usize, output: &mut [f32]) {
        let (steps_out, width) = (self.steps_out(steps), self.outputs);
        for t in 0..steps_out {
            output[t * width..(t + 1) * width].copy_from_slice(&self.bias);
        }
        let matrix = self.inputs * width;
        for tap in 0..3 {
            let rows = &self.weights[tap * matrix..(tap + 1) * matrix];
            for first in (0..self.inputs).step_by(4) {
                let count = (self.inputs - first).min(4);
                let block = &rows[first * width..(first + count) * width];
                for t in 0..steps_out {
                    let Some(source) = (t * self.stride + tap).checked_sub(1).filter(|&s| s < steps) else {
                        continue; // zero padding
                    };
                    let x = &input[source * self.inputs + first..source * self.inputs + first + count];
                    gemv_acc(&mut output[t * width..(t + 1) * width], x, block);
                }
            }
        }
        relu(&mut output[..steps_out * width]);
    }
}

/// The whole model for one sample rate, with its working buffers.
pub struct NativeSilero {
    n_fft: usize,
    hop: usize,
    pad: usize,
    bins: usize,
    /// The STFT's window, read from the basis (its first row).
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    fft_input: Vec<f32>,
    fft_output: Vec<Complex<f32>>,
    fft_scratch: Vec<Complex<f32>>,
    encoder: [Conv; 4],
    /// `[input 128 then hidden 128][4·128 gates]`, transposed; gates i, f, g, o.
    lstm: Vec<f32>,
    lstm_bias: Vec<f32>,
    out_weights: Vec<f32>,
    out_bias: f32,
    padded: Vec<f32>,
    magnitude: Vec<f32>,
    layers: [Vec<f32>; 4],
    gates: Vec<f32>,
    /// x86-64 only: the CPU has AVX2 and FMA. (ARM64's NEON is always there, and
    /// the compiler uses it without asking.)
    #[cfg(target_arch = "x86_64")]
    avx2: bool,
}

impl NativeSilero {
    /// Loads the branch of `model` for `sample_rate` (16000 or 8000).
    pub fn load(model: &Path, sample_rate: u32) -> Result<NativeSilero, EngineError> {
        let mut w = BranchWeights::read(model, sample_rate)?;
        let n_fft = if sample_rate == 16_000 { 256 } else { 128 };
        let (hop, pad, bins) = (n_fft / 2, n_fft / 4, n_fft / 2 + 1);
        let basis = w.take("stft.forward_basis_buffer", &[2 * bins, 1, n_fft])?;
        let stft_window = windowed_dft_window(&basis.values, n_fft).ok_or_else(|| {
            EngineError::BadInput(format!(
                "--vad-backend native does not know the STFT of {} (its basis is not a windowed DFT); \
                 use --vad-backend ort for this model",
                model.display()
            ))
        })?;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        let encoder = [
            Conv::load(&mut w, 0, bins, 128, 1)?,
            Conv::load(&mut w, 1, 128, 64, 2)?,
            Conv::load(&mut w, 2, 64, 64, 2)?,
            Conv::load(&mut w, 3, 64, 128, 1)?,
        ];
        let w_ih = w.take("decoder.rnn.weight_ih", &[4 * HIDDEN, HIDDEN])?.values;
        let w_hh = w.take("decoder.rnn.weight_hh", &[4 * HIDDEN, HIDDEN])?.values;
        let b_ih = w.take("decoder.rnn.bias_ih", &[4 * HIDDEN])?.values;
        let b_hh = w.take("decoder.rnn.bias_hh", &[4 * HIDDEN])?.values;
        let out = w.take("decoder.decoder.2.weight", &[1, HIDDEN, 1])?.values;
        let out_bias = w.take("decoder.decoder.2.bias", &[1])?.values[0];
        let mut lstm = transpose(&w_ih, 4 * HIDDEN, HIDDEN);
        lstm.extend(transpose(&w_hh, 4 * HIDDEN, HIDDEN));
        let window = if sample_rate == 16_000 { 576 } else { 288 };
        let frames = (window + pad - n_fft) / hop + 1;
        Ok(NativeSilero {
            n_fft,
            hop,
            pad,
            bins,
            window: stft_window,
            fft_input: fft.make_input_vec(),
            fft_output: fft.make_output_vec(),
            fft_scratch: fft.make_scratch_vec(),
            fft,
            lstm,
            lstm_bias: b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect(),
            out_weights: out,
            out_bias,
            padded: vec![0.0; window + pad],
            magnitude: vec![0.0; frames * bins],
            layers: [
                vec![0.0; frames * 128],
                vec![0.0; frames * 64],
                vec![0.0; frames * 64],
                vec![0.0; frames * 128],
            ],
            gates: vec![0.0; 4 * HIDDEN],
            encoder,
            #[cfg(target_arch = "x86_64")]
            avx2: cpu_has_avx2_fma(),
        })
    }

    /// Reads one value per cache line of every weight, so the next window finds
    /// them in the caches.
    pub fn touch_weights(&self) {
        const LINE: usize = 16; // f32s per 64-byte cache line
        let mut sum = 0.0f32;
        let arrays =
            self.encoder.iter().flat_map(|c| [&c.weights, &c.bias]).chain([&self.lstm, &self.lstm_bias]);
        for weights in arrays {
            sum += weights.iter().step_by(LINE).sum::<f32>();
        }
        std::hint::black_box(sum);
    }

    /// The speech probability of `input` (context then window), updating
    /// `state` (`[h; c]`, 2×128) as the model's `stateN` would.
    pub fn run(&mut self, input: &[f32], state: &mut [f32]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is true only when the CPU reported AVX2 and FMA
            // (`cpu_has_avx2_fma`), which is all `run_avx2` requires.
            return unsafe { self.run_avx2(input, state) };
        }
        self.compute(input, state)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&mut self, input: &[f32], state: &mut [f32]) -> f32 {
        self.compute(input, state)
    }

    #[inline(always)]
    fn compute(&mut self, input: &[f32], state: &mut [f32]) -> f32 {
        let steps = self.stft(input);
        let mut steps_in = steps;
        let mut previous: &[f32] = &self.magnitude;
        for (conv, output) in self.encoder.iter().zip(self.layers.iter_mut()) {
            conv.apply(previous, steps_in, output);
            steps_in = conv.steps_out(steps_in);
            previous = output;
        }
        let mut sum = 0.0;
        for t in 0..steps_in {
            let x = &self.layers[3][t * HIDDEN..(t + 1) * HIDDEN];
            lstm_cell(&self.lstm, &self.lstm_bias, x, state, &mut self.gates);
            let h = &state[..HIDDEN];
            let logit =
                self.out_bias + h.iter().zip(&self.out_weights).map(|(h, w)| h.max(0.0) * w).sum::<f32>();
            sum += sigmoid(logit);
        }
        sum / steps_in as f32
    }

    /// Reflect-pads `input`, fills `magnitude` `[frames][bins]`; returns the frame count.
    #[inline(always)]
    fn stft(&mut self, input: &[f32]) -> usize {
        let n = input.len();
        self.padded[..n].copy_from_slice(input);
        for i in 0..self.pad {
            self.padded[n + i] = input[n - 2 - i];
        }
        let frames = (n + self.pad - self.n_fft) / self.hop + 1;
        for t in 0..frames {
            let frame = &self.padded[t * self.hop..t * self.hop + self.n_fft];
            for ((x, s), w) in self.fft_input.iter_mut().zip(frame).zip(&self.window) {
                *x = s * w;
            }
            // Lengths are the plan's own (make_*_vec), so this cannot fail.
            let _ = self.fft.process_with_scratch(
                &mut self.fft_input,
                &mut self.fft_output,
                &mut self.fft_scratch,
            );
            for (m, c) in self.magnitude[t * self.bins..(t + 1) * self.bins].iter_mut().zip(&self.fft_output)
            {
                *m = (c.re * c.re + c.im * c.im).sqrt();
            }
        }
        frames
    }
}

/// One LSTM step (PyTorch's gate order i, f, g, o) on `x`, with `state` = `[h; c]`.
#[inline(always)]
fn lstm_cell(weights: &[f32], bias: &[f32], x: &[f32], state: &mut [f32], gates: &mut [f32]) {
    let width = 4 * HIDDEN;
    gates.copy_from_slice(bias);
    let (h, c) = state.split_at_mut(HIDDEN);
    gemv_acc(gates, x, &weights[..HIDDEN * width]);
    gemv_acc(gates, h, &weights[HIDDEN * width..]);
    for k in 0..HIDDEN {
        let i = sigmoid(gates[k]);
        let f = sigmoid(gates[HIDDEN + k]);
        let g = gates[2 * HIDDEN + k].tanh();
        let o = sigmoid(gates[3 * HIDDEN + k]);
        c[k] = f * c[k] + i * g;
        h[k] = o * c[k].tanh();
    }
}

/// `y += xᵀ · rows`, `rows` being `x.len()` rows of `y.len()` values: the one
/// loop all the arithmetic goes through. Four rows at a time, so `y` is
/// loaded and stored once per four multiply-adds.
#[inline(always)]
fn gemv_acc(y: &mut [f32], x: &[f32], rows: &[f32]) {
    let width = y.len();
    let mut blocks = rows.chunks_exact(4 * width);
    let mut coefficients = x.chunks_exact(4);
    for (block, a) in (&mut blocks).zip(&mut coefficients) {
        let (r0, rest) = block.split_at(width);
        let (r1, rest) = rest.split_at(width);
        let (r2, r3) = rest.split_at(width);
        let (a0, a1, a2, a3) = (a[0], a[1], a[2], a[3]);
        let y = &mut y[..width]; // equal lengths: no bounds checks in the loop
        let (r0, r1, r2, r3) = (&r0[..width], &r1[..width], &r2[..width], &r3[..width]);
        for i in 0..width {
            y[i] += a0 * r0[i] + a1 * r1[i] + a2 * r2[i] + a3 * r3[i];
        }
    }
    for (row, &a) in blocks.remainder().chunks_exact(width).zip(coefficients.remainder()) {
        for (y, r) in y.iter_mut().zip(row) {
            *y += a * r;
        }
    }
}

#[inline(always)]
fn relu(y: &mut [f32]) {
    for v in y {
        *v = v.max(0.0);
    }
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The window `w` if `basis` (`2·(n/2+1)` rows of `n`) is `w[k]·cos(2πfk/n)`
/// then `−w[k]·sin(2πfk/n)` for every bin `f`, to 1e-6; else None.
fn windowed_dft_window(basis: &[f32], n: usize) -> Option<Vec<f32>> {
    let bins = n / 2 + 1;
    let window = basis[..n].to_vec();
    for f in 0..bins {
        for k in 0..n {
            let phase = 2.0 * std::f64::consts::PI * ((f * k) % n) as f64 / n as f64;
            let w = f64::from(window[k]);
            let re = f64::from(basis[f * n + k]) - w * phase.cos();
            let im = f64::from(basis[(bins + f) * n + k]) + w * phase.sin();
            if re.abs() > 1e-6 || im.abs() > 1e-6 {
                return None;
            }
        }
    }
    Some(window)
}

/// `rows × cols` row-major → `cols × rows`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}
