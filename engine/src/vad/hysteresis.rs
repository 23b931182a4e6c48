//! Turns per-frame probabilities into a stable speech flag.

use v2m_layout::VadConfig;

/// Speech starts when the probability reaches `threshold`; it ends after the
/// probability stays below `neg_threshold` for `min_silence_frames` frames.
/// The gap between the thresholds keeps the flag from chattering.
pub struct SpeechGate {
    threshold: f32,
    neg_threshold: f32,
    min_silence_frames: u32,
    speech: bool,
    quiet_frames: u32,
}

impl SpeechGate {
    /// A gate that starts in silence.
    pub fn new(threshold: f32, neg_threshold: f32, min_silence_frames: u32) -> SpeechGate {
        SpeechGate {
            threshold,
            neg_threshold,
            min_silence_frames: min_silence_frames.max(1),
            speech: false,
            quiet_frames: 0,
        }
    }

    /// The gate a ring's header describes, for frames of `frame_ms` milliseconds.
    pub fn from_config(vad: &VadConfig, frame_ms: f64) -> SpeechGate {
        let min_silence_frames = (f64::from(vad.min_silence_ms) / frame_ms).ceil() as u32;
        SpeechGate::new(vad.threshold, vad.neg_threshold, min_silence_frames)
    }

    /// Feeds one frame's probability and returns the flag for that frame.
    pub fn update(&mut self, probability: f32) -> bool {
        if probability >= self.threshold {
            self.speech = true;
            self.quiet_frames = 0;
        } else if self.speech && probability < self.neg_threshold {
            self.quiet_frames += 1;
            if self.quiet_frames >= self.min_silence_frames {
                self.speech = false;
                self.quiet_frames = 0;
            }
        } else if self.speech {
            self.quiet_frames = 0;
        }
        self.speech
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_needs_the_threshold_and_ends_after_enough_quiet_frames() {
        let mut gate = SpeechGate::new(0.5, 0.35, 2);
        let flags: Vec<bool> =
            [0.4, 0.6, 0.4, 0.3, 0.4, 0.3, 0.2, 0.1].iter().map(|&p| gate.update(p)).collect();
        // 0.4 never starts speech; 0.4 (between thresholds) resets the quiet count.
        assert_eq!(flags, [false, true, true, true, true, true, false, false]);
    }
}
