"""Transcribes every utterance with faster-whisper, live.

    pip install faster-whisper           # and let it fetch a model once, e.g. "base.en"
    python transcribe.py --model base.en [--source default]

The utterances are float32 mono at 16 kHz, exactly what faster-whisper takes, so
they go to the recognizer without conversion or copying.
"""

from __future__ import annotations

import argparse
import sys

import v2m


def load_model(name: str, device: str):  # type: ignore[no-untyped-def]
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        sys.exit("transcribe.py needs faster-whisper: pip install faster-whisper")
    try:
        return WhisperModel(name, device=device, compute_type="int8")
    except Exception as error:  # noqa: BLE001 - report whatever the model loader says
        sys.exit(
            f"cannot load the Whisper model {name!r} ({error}); it must be downloaded once "
            "(needs internet) or given as a local directory with --model PATH"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base.en", help="faster-whisper model name or directory")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--source", default="default", help="engine --source")
    parser.add_argument("--engine", help="path of v2m-engine")
    args = parser.parse_args()

    model = load_model(args.model, args.device)
    with v2m.spawn(source=args.source, engine=args.engine) as engine:
        with engine.reader() as reader:
            if reader.sample_rate != 16000:
                sys.exit("faster-whisper wants 16 kHz audio; run the engine with --rate 16000")
            try:
                for u in reader.utterances():
                    segments, _ = model.transcribe(u.audio, language="en", beam_size=1)
                    text = " ".join(s.text.strip() for s in segments)
                    print(f"[{u.duration:5.2f} s] {text}", flush=True)
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
