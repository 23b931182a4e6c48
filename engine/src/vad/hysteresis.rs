//! Turns per-frame probabilities into a stable speech flag.
//!
//! The rule is Silero's (`get_speech_timestamps`, `VADIterator`), and the
//! Python reader's `v2m.speech` implements the same one for `vad_events()` and
//! `utterances()`: speech starts at a frame whose probability reaches
//! `threshold`; it ends once `min_silence_frames` frames have passed since the
//! first frame below `neg_threshold` with no frame at `threshold` since (a frame
//! between the thresholds neither ends nor resumes it); a discontinuity ends it
//! at the gap. `tests/test_speech_rule.py` checks the two agree frame by frame.

use v2m_layout::VadConfig;

/// Without `--vad-neg-threshold`, the end threshold is this much below the
/// start one (Silero's rule; `v2m.speech.NEG_THRESHOLD_GAP` in Python, checked
/// against `v2m-engine flags`).
pub const NEG_THRESHOLD_GAP: f32 = 0.15;

/// The end threshold that goes with `threshold` when none is given.
pub fn neg_threshold_for(threshold: f32) -> f32 {
    (threshold - NEG_THRESHOLD_GAP).max(0.0)
}

/// The speech decision over a stream of frames.
pub struct SpeechGate {
    threshold: f32,
    neg_threshold: f32,
    min_silence_frames: u32,
    speech: bool,
    /// Frames since the first quiet frame of the run that may end the speech.
    quiet_for: Option<u32>,
}

impl SpeechGate {
    /// A gate that starts in silence; `min_silence_frames` is at least one.
    pub fn new(threshold: f32, neg_threshold: f32, min_silence_frames: u32) -> SpeechGate {
        SpeechGate {
            threshold,
            neg_threshold,
            min_silence_frames: min_silence_frames.max(1),
            speech: false,
            quiet_for: None,
        }
    }

    /// The gate a ring's header describes, for frames of `frame_ms` milliseconds.
    pub fn from_config(vad: &VadConfig, frame_ms: f64) -> SpeechGate {
        let min_silence_frames = (f64::from(vad.min_silence_ms) / frame_ms).ceil() as u32;
        SpeechGate::new(vad.threshold, vad.neg_threshold, min_silence_frames)
    }

    /// Feeds one frame's probability (`discontinuity`: audio before it is
    /// missing) and returns the flag for that frame.
    pub fn update(&mut self, probability: f32, discontinuity: bool) -> bool {
        if discontinuity {
            self.speech = false;
            self.quiet_for = None;
        }
        if probability >= self.threshold {
            self.speech = true;
            self.quiet_for = None;
            return true;
        }
        if !self.speech {
            return false;
        }
        if probability < self.neg_threshold && self.quiet_for.is_none() {
            self.quiet_for = Some(0);
        }
        match self.quiet_for {
            Some(frames) if frames >= self.min_silence_frames => {
                self.speech = false;
                self.quiet_for = None;
            }
            Some(frames) => self.quiet_for = Some(frames + 1),
            None => {}
        }
        self.speech
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(gate: &mut SpeechGate, probabilities: &[f32]) -> Vec<bool> {
        probabilities.iter().map(|&p| gate.update(p, false)).collect()
    }

    #[test]
    fn speech_ends_min_silence_frames_after_the_first_quiet_frame() {
        let mut gate = SpeechGate::new(0.5, 0.35, 2);
        // Quiet from frame 2: still speech at 2 and 3, over at 4 (2 frames later).
        assert_eq!(
            flags(&mut gate, &[0.4, 0.6, 0.2, 0.2, 0.2, 0.2]),
            [false, true, true, true, false, false]
        );
    }

    #[test]
    fn a_frame_between_the_thresholds_neither_ends_nor_resumes_speech() {
        let mut gate = SpeechGate::new(0.5, 0.35, 2);
        // The quiet run starts at 1; 0.4 at 2 does not reset it: over at 3.
        assert_eq!(flags(&mut gate, &[0.6, 0.2, 0.4, 0.4]), [true, true, true, false]);
        let mut gate = SpeechGate::new(0.5, 0.35, 2);
        // Between the thresholds from the start of the quiet part: no quiet run yet.
        assert_eq!(flags(&mut gate, &[0.6, 0.4, 0.4, 0.4]), [true, true, true, true]);
    }

    #[test]
    fn a_discontinuity_ends_speech_at_the_gap() {
        let mut gate = SpeechGate::new(0.5, 0.35, 4);
        assert!(gate.update(0.9, false));
        assert!(!gate.update(0.4, true), "the frame after the gap decides anew");
        assert!(gate.update(0.9, true));
    }

    #[test]
    fn the_default_end_threshold_is_the_gap_below_and_never_negative() {
        assert!((neg_threshold_for(0.5) - 0.35).abs() < 1e-6);
        assert_eq!(neg_threshold_for(0.1), 0.0);
    }
}
