"""VAD cost and quality: the engine's Silero against Python onnxruntime and the energy VAD.

1. Per-frame VAD time on the same 512-sample frames (the bundled speech sample):
   the engine (`v2m-engine bench-vad`, the code `run` uses) with the default session
   and with alternatives (graph optimisation levels, IoBinding, the other model files
   in the wheel), Python onnxruntime with one thread, and the energy VAD. Each row is
   the median of `--repeats` runs.
2. Whether each model variant gives the same probabilities as the default.
3. The fastest replay of a file through `--vad silero --speed max`, in × real time.
4. Frame-level precision/recall of Silero and the energy VAD on espeak-ng speech
   mixed with white noise (needs espeak-ng and sox).

    .venv/bin/python bench/vad.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import v2m  # noqa: E402
from support.silero_reference import MODELS, SileroReference  # noqa: E402

ENGINE = os.environ.get("V2M_ENGINE", str(ROOT / "target" / "release" / "v2m-engine"))
SAMPLE = ROOT / "assets" / "speech.wav"


def engine_bench(*args: str, source: Path = SAMPLE) -> Dict[str, object]:
    out = subprocess.run(
        [ENGINE, "bench-vad", "--source", f"file:{source}", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    result: Dict[str, object] = json.loads(out.stdout)
    return result


def median_of(runs: List[Dict[str, object]], key: str) -> float:
    return float(np.median([float(r[key]) for r in runs]))  # type: ignore[arg-type]


def sample_frames() -> List[np.ndarray]:
    with wave.open(str(SAMPLE)) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    n = len(audio) // 512
    frames = list(audio[: n * 512].reshape(n, 512))
    tail = np.zeros(512, np.float32)
    tail[: len(audio) - n * 512] = audio[n * 512 :]
    return frames + [tail]


def timing_table(repeats: int) -> None:
    print("## Per-frame VAD time, 512-sample frames at 16 kHz (median of runs)\n")
    print(f"{'implementation':<52} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8} {'max |Δp|':>9}")
    ort = ["--vad-backend", "ort"]
    default = engine_bench(*ort)  # the reference every |Δp| is measured against
    cases = [
        ("engine: native kernel (default)", []),
        ("engine: ORT, silero_vad.onnx, level 3", ort),
        ("engine: ORT, silero_vad.onnx, all optimisations", [*ort, "--opt-level", "all"]),
        ("engine: ORT, silero_vad.onnx, no graph optimisation", [*ort, "--opt-level", "disable"]),
        ("engine: ORT, silero_vad.onnx, IoBinding", [*ort, "--io-binding"]),
        (
            "engine: ORT, silero_vad_op18_ifless.onnx",
            [*ort, "--vad-model", str(MODELS / "silero_vad_op18_ifless.onnx")],
        ),
        (
            "engine: ORT, silero_vad_16k_op15.onnx",
            [*ort, "--vad-model", str(MODELS / "silero_vad_16k_op15.onnx")],
        ),
        ("engine: energy VAD", ["--vad", "energy"]),
    ]
    base = np.array(default["probabilities"])  # type: ignore[arg-type]
    for label, args in cases:
        runs = [engine_bench(*args) for _ in range(repeats)]
        probs = np.array(runs[0]["probabilities"])  # type: ignore[arg-type]
        delta = "" if "energy" in label else f"{np.max(np.abs(probs - base)):.1e}"
        print(
            f"{label:<52} {median_of(runs, 'p50_us'):>8.1f} {median_of(runs, 'p99_us'):>8.1f} "
            f"{median_of(runs, 'mean_us'):>8.1f} {delta:>9}"
        )
    frames = sample_frames()
    for model in ("silero_vad.onnx", "silero_vad_16k_op15.onnx"):
        stats = []
        for _ in range(repeats):
            probabilities, micros = SileroReference(MODELS / model).run(frames)
            stats.append((np.percentile(micros, 50), np.percentile(micros, 99), np.mean(micros)))
        p50, p99, mean = np.median(np.array(stats), axis=0)
        delta = np.max(np.abs(np.array(probabilities) - base))
        print(
            f"{'python onnxruntime 1.31.1, 1 thread: ' + model:<52} {p50:>8.1f} {p99:>8.1f} {mean:>8.1f} {delta:>9.1e}"
        )


def paced_table(seconds: float) -> None:
    print(
        "\n## The same at real-time cadence: one frame every 32 ms, cold caches "
        "(warmed 8 ms ahead, as the engine does for live sources, unless said)\n"
    )
    print(f"{'implementation':<52} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8}")
    frames = sample_frames()[: int(seconds / 0.032)]
    for label, args in (
        ("engine: native kernel (default)", []),
        ("engine: native kernel, caches not warmed", ["--no-prepare"]),
        ("engine: ORT, silero_vad.onnx", ["--vad-backend", "ort"]),
        ("engine: energy VAD", ["--vad", "energy"]),
    ):
        r = engine_bench("--interval-ms", "32", *args)
        print(f"{label:<52} {float(r['p50_us']):>8.1f} {float(r['p99_us']):>8.1f} {float(r['mean_us']):>8.1f}")  # type: ignore[arg-type]
    reference = SileroReference()
    micros = []
    for frame in frames:
        time.sleep(0.032)
        micros += reference.run([frame])[1]
    print(
        f"{'python onnxruntime 1.31.1, 1 thread: silero_vad.onnx':<52} {np.percentile(micros, 50):>8.1f} "
        f"{np.percentile(micros, 99):>8.1f} {np.mean(micros):>8.1f}"
    )


def replay_speed() -> None:
    print("\n## Fastest replay through the whole engine (file → ring), --speed max\n")
    audio_s = 120.0
    for vad, backend in (("silero", "native"), ("silero", "ort"), ("energy", "native")):
        name = f"bench-vad-{os.getpid()}"
        started = time.monotonic()
        engine = subprocess.Popen(
            [
                ENGINE,
                "run",
                "--name",
                name,
                "--source",
                f"file:{SAMPLE}",
                "--loop",
                "--duration",
                str(audio_s),
                "--speed",
                "max",
                "--linger",
                "0",
                "--vad",
                vad,
                "--vad-backend",
                backend,
            ],
            stderr=subprocess.DEVNULL,
        )
        assert engine.wait() == 0
        wall = time.monotonic() - started
        label = f"--vad {vad}" + (f" --vad-backend {backend}" if vad == "silero" else "")
        print(
            f"{label:<33} {audio_s:.0f} s of audio in {wall:.2f} s: {audio_s / wall:>5.0f}× real time, "
            f"peak RSS {peak_rss_mib(vad, backend):.0f} MiB"
        )


def peak_rss_mib(vad: str, backend: str) -> float:
    """The engine's peak resident memory replaying 10 s of the sample (read from
    /proc while it lingers: a fork's own figure would include this Python process)."""
    name = f"bench-rss-{os.getpid()}"
    engine = subprocess.Popen(
        [ENGINE, "run", "--name", name, "--source", f"file:{SAMPLE}", "--speed", "max"]
        + ["--duration", "10", "--linger", "0.5", "--vad", vad, "--vad-backend", backend],
        stderr=subprocess.DEVNULL,
    )
    peak = 0
    while engine.poll() is None:
        try:
            status = Path(f"/proc/{engine.pid}/status").read_text()
        except FileNotFoundError:
            break
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
        time.sleep(0.01)
    return peak / 1024


def detection() -> None:
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        print("\n(espeak-ng and sox are needed for the detection table)")
        return
    from support.speech_material import make_speech, mix_at_snr, score, white_noise, write_wav

    print("\n## Detection: frame-level precision / recall against the clean speech (p ≥ 0.5)\n")
    material = make_speech()
    print(f"{'material':<22} {'silero P':>9} {'silero R':>9} {'energy P':>9} {'energy R':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(f"speech + noise {snr} dB", mix_at_snr(material, snr)) for snr in (20, 10, 5)]
        cases += [
            ("silence", np.zeros(16000 * 5, np.float32)),
            ("noise alone", white_noise(160000, 0.05)),
        ]
        for label, audio in cases:
            wav = write_wav(Path(tmp) / "x.wav", audio)
            row = []
            for vad in ("silero", "energy"):
                probs = np.array(engine_bench("--vad", vad, source=wav)["probabilities"])  # type: ignore[arg-type]
                predicted = probs >= 0.5
                if label.startswith("speech"):
                    truth = material.speech_frames
                    p, r = score(predicted[: len(truth)], truth)
                    row += [f"{p:.2f}", f"{r:.2f}"]
                else:
                    row += [f"{predicted.mean():.0%} flagged", ""]
            print(f"{label:<22} {row[0]:>9} {row[1]:>9} {row[2]:>9} {row[3]:>9}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"# {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, v2m {v2m.__version__}\n")
    timing_table(args.repeats)
    paced_table(16.0)
    print(
        "\n(silero-vad's own torch path is not measured: the registry's torch wheel is the "
        "multi-gigabyte CUDA build, which this machine does not install)"
    )
    replay_speed()
    detection()
    return 0


if __name__ == "__main__":
    sys.exit(main())
