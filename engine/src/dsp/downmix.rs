//! Interleaved multichannel → mono.

/// Averages each interleaved sample frame of `channels` samples into `out`.
/// Mono input is copied unchanged, so it passes through bit-exact.
///
/// ```ignore
/// let mut out = vec![0.0; 2];
/// downmix(&[1.0, 0.0, 0.5, 0.5], 2, &mut out);
/// assert_eq!(out, [0.5, 0.5]);
/// ```
pub fn downmix(interleaved: &[f32], channels: usize, out: &mut [f32]) {
    if channels == 1 {
        out.copy_from_slice(interleaved);
        return;
    }
    let scale = 1.0 / channels as f32;
    for (dst, frame) in out.iter_mut().zip(interleaved.chunks_exact(channels)) {
        *dst = frame.iter().sum::<f32>() * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_passes_through_and_stereo_is_averaged() {
        let mut out = [0.0; 3];
        downmix(&[0.1, -0.2, 0.3], 1, &mut out);
        assert_eq!(out, [0.1, -0.2, 0.3]);
        let mut out = [0.0; 2];
        downmix(&[1.0, 0.0, 0.5, -0.5], 2, &mut out);
        assert_eq!(out, [0.5, 0.0]);
    }
}
