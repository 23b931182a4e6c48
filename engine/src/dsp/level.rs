//! RMS and peak of a frame.

/// Level of a block of samples, linear full scale.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Level {
    /// Root mean square.
    pub rms: f32,
    /// Largest absolute sample.
    pub peak: f32,
}

/// Measures `samples`; an empty block is silent.
pub fn measure(samples: &[f32]) -> Level {
    if samples.is_empty() {
        return Level::default();
    }
    let (sum_sq, peak) = samples
        .iter()
        .fold((0.0f64, 0.0f32), |(sum, peak), &s| (sum + f64::from(s) * f64::from(s), peak.max(s.abs())));
    Level { rms: (sum_sq / samples.len() as f64).sqrt() as f32, peak }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_scale_square_wave_has_rms_and_peak_one() {
        let level = measure(&[1.0, -1.0, 1.0, -1.0]);
        assert_eq!(level, Level { rms: 1.0, peak: 1.0 });
        assert_eq!(measure(&[]), Level::default());
        assert!((measure(&[0.5, 0.0]).rms - 0.353_553_4).abs() < 1e-6);
    }
}
