//! Synthetic sources: a sine tone, white noise, silence, and a counter whose
//! samples encode their position; mono at the ring rate, endless
//! (`--duration` ends them).

use super::{Chunk, Source};
use crate::error::EngineError;

/// Which signal to make.
enum Signal {
    Tone { phase: f64, step: f64 },
    Noise { state: u64 },
    Silence,
    Counter { next: u32 },
}

/// A synthetic mono source.
pub struct Synth {
    signal: Signal,
    rate: u32,
}

/// Peak amplitude of the tone (−6 dBFS).
const TONE_AMPLITUDE: f64 = 0.5;
/// The counter wraps after this many samples (float32 has 24 bits of mantissa).
const COUNTER_PERIOD: u32 = 1 << 24;
/// Peak of the uniform noise: RMS 0.1 (−20 dBFS) is 0.1·√3.
const NOISE_PEAK: f32 = 0.173_205_08;

impl Synth {
    /// A sine of `hz`.
    pub fn tone(hz: f64, rate: u32) -> Synth {
        let step = std::f64::consts::TAU * hz / f64::from(rate);
        Synth { signal: Signal::Tone { phase: 0.0, step }, rate }
    }

    /// Uniform white noise at −20 dBFS RMS.
    pub fn noise(rate: u32) -> Synth {
        Synth { signal: Signal::Noise { state: 0x9E37_79B9_7F4A_7C15 }, rate }
    }

    /// Zeros.
    pub fn silence(rate: u32) -> Synth {
        Synth { signal: Signal::Silence, rate }
    }

    /// Sample `n` is `(n mod 2^24) / 2^24`: every value is exact in float32,
    /// so a reader can check each frame's content against its index.
    pub fn counter(rate: u32) -> Synth {
        Synth { signal: Signal::Counter { next: 0 }, rate }
    }
}

impl Source for Synth {
    fn rate(&self) -> u32 {
        self.rate
    }

    fn channels(&self) -> usize {
        1
    }

    fn read(&mut self, out: &mut [f32]) -> Result<Chunk, EngineError> {
        let frames = out.len();
        match &mut self.signal {
            Signal::Tone { phase, step } => {
                for sample in out {
                    *sample = (TONE_AMPLITUDE * phase.sin()) as f32;
                    *phase = (*phase + *step) % std::f64::consts::TAU;
                }
            }
            Signal::Noise { state } => {
                for sample in out {
                    // xorshift64*: fast, allocation-free, good enough for test noise.
                    *state ^= *state >> 12;
                    *state ^= *state << 25;
                    *state ^= *state >> 27;
                    let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
                    let uniform = bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                    *sample = uniform * NOISE_PEAK;
                }
            }
            Signal::Silence => out.fill(0.0),
            Signal::Counter { next } => {
                for sample in out {
                    *sample = *next as f32 / COUNTER_PERIOD as f32;
                    *next = (*next + 1) % COUNTER_PERIOD;
                }
            }
        }
        Ok(Chunk { frames, ..Chunk::default() })
    }
}
