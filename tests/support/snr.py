"""How close resampled audio is to a reference."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Audio = npt.NDArray[np.floating]


def snr_db(reference: Audio, signal: Audio) -> float:
    """Signal-to-noise ratio of `signal` against `reference`, in dB."""
    return float(10 * np.log10(np.sum(reference**2) / np.sum((signal - reference) ** 2)))


def lowpass(x: Audio, hz: float, rate: int = 16000) -> Audio:
    """`x` with everything above `hz` removed (an ideal filter, in the spectrum)."""
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(len(x), 1 / rate) > hz] = 0
    return np.fft.irfft(spectrum, len(x))
