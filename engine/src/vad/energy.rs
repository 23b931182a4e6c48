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
    use crate::dsp::level::{measure, Level};

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

    /// Feeds one frame of the given level (dBFS); the probability.
    fn at_db(vad: &mut EnergyVad, db: f32) -> f32 {
        let rms = 10f32.powf(db / 20.0);
        vad.probability(&VadInput { samples: &[], level: Level { rms, peak: rms }, discontinuity: false })
    }

    /// Frames in `seconds` of 512-sample frames at 16 kHz.
    fn frames(seconds: f32) -> usize {
        (seconds * 16_000.0 / 512.0).round() as usize
    }

    #[test]
    fn the_floor_is_the_quietest_level_of_the_last_three_seconds() {
        let mut vad = EnergyVad::new(16_000, 512);
        for _ in 0..frames(5.0) {
            at_db(&mut vad, -40.0);
        }
        // Noise steps up 20 dB: it stands out until the quiet frames leave the window.
        let mut p = Vec::new();
        for _ in 0..frames(4.0) {
            p.push(at_db(&mut vad, -20.0));
        }
        assert!(p[0] > 0.99, "20 dB over the floor is speech: {}", p[0]);
        assert!(p[frames(2.8)] > 0.99, "2.8 s later the quiet floor is still in the window");
        assert!(p[frames(3.1)] < 0.01, "after 3 s the floor has risen to the new noise");
        // Noise steps down: the floor follows at once (the minimum).
        assert!(at_db(&mut vad, -40.0) < 0.01);
        assert!(at_db(&mut vad, -40.0) < 0.01);
    }

    #[test]
    fn probability_is_logistic_in_db_above_the_floor_with_midpoint_10_and_slope_2() {
        let mut vad = EnergyVad::new(16_000, 512);
        for _ in 0..frames(3.5) {
            at_db(&mut vad, -50.0);
        }
        let logistic = |x: f32| 1.0 / (1.0 + (-x).exp());
        for (above, expected) in
            [(10.0, 0.5), (12.0, logistic(1.0)), (8.0, logistic(-1.0)), (20.0, logistic(5.0))]
        {
            let p = at_db(&mut vad, -50.0 + above);
            assert!((p - expected).abs() < 1e-3, "{above} dB above the floor: {p}, not {expected}");
        }
        assert!(at_db(&mut vad, -61.0) == 0.0, "below -60 dBFS is never speech");
    }

    #[test]
    fn speech_stays_detected_over_a_slowly_rising_noise_floor() {
        let mut vad = EnergyVad::new(16_000, 512);
        let mut noise_db = -50.0;
        for second in 0..12 {
            for i in 0..frames(1.0) {
                noise_db += 1.0 / frames(1.0) as f32; // +1 dB per second
                let speaking = i % 10 < 4 && second > 0;
                let p = at_db(&mut vad, if speaking { noise_db + 15.0 } else { noise_db });
                if speaking {
                    assert!(p > 0.9, "speech 15 dB over the noise at {second} s: {p}");
                } else if second > 3 {
                    assert!(p < 0.1, "noise that rose 3 dB in the window at {second} s: {p}");
                }
            }
        }
    }

    #[test]
    fn a_discontinuity_forgets_the_floor() {
        let mut vad = EnergyVad::new(16_000, 512);
        for _ in 0..frames(2.0) {
            at_db(&mut vad, -50.0);
        }
        let loud = Level { rms: 0.1, peak: 0.1 };
        let after_gap = vad.probability(&VadInput { samples: &[], level: loud, discontinuity: true });
        assert!(after_gap < 0.01, "a fresh stream starts with its own level as the floor");
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
