//! The energy detector: frame RMS against an adaptive noise floor.
//!
//! The noise floor is the quietest frame level of the last few seconds
//! ("minimum statistics"): speech always has pauses between words, so the
//! minimum tracks the background even while someone talks, and a steady
//! noise or hum becomes the floor within the window. The probability is a
//! logistic function of how far the frame stands above the floor; frames
//! below an absolute gate are never speech. The floor is learnt from the
//! stream itself, so speech in the very first frames scores low until the
//! first pause has shown the background.

use super::{Vad, VadInput};

/// Level (dB) above the floor at which the probability is 0.5.
const SNR_MIDPOINT_DB: f32 = 10.0;
/// dB per unit of the logistic's argument: smaller is a sharper decision.
const SNR_SLOPE_DB: f32 = 2.0;
/// Frames quieter than this (dBFS) are silence whatever the floor.
const ABSOLUTE_GATE_DB: f32 = -60.0;
/// How far back the noise floor looks.
const FLOOR_WINDOW_S: f32 = 3.0;
/// Level used for digital silence, instead of −∞.
const MIN_DB: f32 = -120.0;

/// Energy VAD state: the recent frame levels, in a fixed-size ring.
pub struct EnergyVad {
    levels_db: Vec<f32>,
    next: usize,
    seen: usize,
}

impl EnergyVad {
    /// A detector for frames of `frame_samples` at `rate`.
    pub fn new(rate: u32, frame_samples: u32) -> EnergyVad {
        let frames = (FLOOR_WINDOW_S * rate as f32 / frame_samples as f32).ceil() as usize;
        EnergyVad { levels_db: vec![MIN_DB; frames.clamp(4, 1024)], next: 0, seen: 0 }
    }

    fn noise_floor_db(&self) -> f32 {
        self.levels_db[..self.seen].iter().copied().fold(f32::INFINITY, f32::min)
    }
}

impl Vad for EnergyVad {
    fn probability(&mut self, frame: &VadInput<'_>) -> f32 {
        if frame.discontinuity {
            self.seen = 0;
            self.next = 0;
        }
        let level_db = (20.0 * frame.level.rms.log10()).max(MIN_DB);
        self.levels_db[self.next] = level_db;
        self.next = (self.next + 1) % self.levels_db.len();
        self.seen = (self.seen + 1).min(self.levels_db.len());
        if level_db < ABSOLUTE_GATE_DB {
            return 0.0;
        }
        let floor = self.noise_floor_db();
        let snr_db = level_db - floor;
        1.0 / (1.0 + (-(snr_db - SNR_MIDPOINT_DB) / SNR_SLOPE_DB).exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::level::measure;

    fn score(vad: &mut EnergyVad, samples: &[f32]) -> f32 {
        vad.probability(&VadInput { samples, level: measure(samples), discontinuity: false })
    }

    fn noise(n: usize, amp: f32, seed: &mut u32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (*seed >> 8) as f32 / (1 << 24) as f32 * 2.0 * amp - amp
            })
            .collect()
    }

    #[test]
    fn silence_is_never_speech() {
        let mut vad = EnergyVad::new(16_000, 512);
        for _ in 0..100 {
            assert_eq!(score(&mut vad, &[0.0; 512]), 0.0);
        }
    }

    #[test]
    fn a_loud_burst_over_steady_noise_is_speech_and_the_noise_is_not() {
        let mut vad = EnergyVad::new(16_000, 512);
        let mut seed = 1;
        let mut last_noise = 1.0;
        for _ in 0..200 {
            last_noise = score(&mut vad, &noise(512, 0.01, &mut seed));
        }
        assert!(last_noise < 0.1, "steady noise scored {last_noise}");
        let burst = score(&mut vad, &noise(512, 0.2, &mut seed));
        assert!(burst > 0.9, "a 26 dB burst scored {burst}");
    }
}
