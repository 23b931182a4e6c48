"""Silero VAD in Python onnxruntime, streamed exactly as Silero's own OnnxWrapper does.

The reference the engine's probabilities are checked against: per call a
window of 512 samples at 16 kHz (256 at 8 kHz), the previous call's last 64
(32) input samples prepended as context, the recurrent state carried over.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models" / "silero_vad"


class SileroReference:
    def __init__(self, model: Path = MODELS / "silero_vad.onnx", rate: int = 16000) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.rate = rate
        self.window = 512 if rate == 16000 else 256
        self.context_size = 64 if rate == 16000 else 32
        self.names = {i.name for i in self.session.get_inputs()}
        self.reset()

    def reset(self) -> None:
        self.state = np.zeros((2, 1, 128), dtype=np.float32)
        self.context = np.zeros((1, self.context_size), dtype=np.float32)

    def __call__(self, window: np.ndarray) -> float:
        x = np.concatenate([self.context, window.reshape(1, -1).astype(np.float32)], axis=1)
        feed = {"input": x, "state": self.state}
        if "sr" in self.names:
            feed["sr"] = np.array(self.rate, dtype=np.int64)
        out, self.state = self.session.run(None, feed)
        self.context = x[:, -self.context_size :]
        return float(out[0, 0])

    def run(self, frames: Sequence[np.ndarray]) -> Tuple[List[float], List[float]]:
        """Probabilities of consecutive windows, and the µs each call took."""
        probabilities, micros = [], []
        for frame in frames:
            started = time.perf_counter_ns()
            probabilities.append(self(frame))
            micros.append((time.perf_counter_ns() - started) / 1000)
        return probabilities, micros
