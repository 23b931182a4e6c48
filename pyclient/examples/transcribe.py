"""Transcribes every utterance the engine hears, live: one line of text per utterance.

    pip install pocketsphinx                  # offline, with its English model
    python transcribe.py --asr pocketsphinx [--source default]

    pip install faster-whisper                # fetches a model once, e.g. "base.en"
    python transcribe.py --asr faster-whisper --model base.en

    python transcribe.py --asr pocketsphinx --source file:talk.wav --speed max

The utterances are float32 mono at 16 kHz: faster-whisper takes them as they are (no
conversion, no copy), PocketSphinx as 16-bit PCM (``audio_int16()``). PocketSphinx is
small and works offline, which is why the tests run it; Whisper recognizes far better.
With ``--speed max`` a file is replayed as fast as the recognizer keeps up: the engine
holds the replay back for this reader (``pace_to_readers``), so nothing is lost.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

import numpy as np
import numpy.typing as npt

import v2m
from v2m.spawn import EngineOptions

Recognize = Callable[[npt.NDArray[np.float32], "v2m.Utterance"], str]


def pocketsphinx_recognizer() -> Recognize:
    try:
        from pocketsphinx import Decoder
    except ImportError:
        sys.exit("--asr pocketsphinx needs PocketSphinx: pip install pocketsphinx")
    decoder = Decoder(samprate=16000)

    def recognize(audio: npt.NDArray[np.float32], utterance: v2m.Utterance) -> str:
        decoder.start_utt()
        decoder.process_raw(utterance.audio_int16().tobytes(), full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""

    return recognize


def whisper_recognizer(model_name: str, device: str) -> Recognize:
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        sys.exit("--asr faster-whisper needs faster-whisper: pip install faster-whisper")
    try:
        model = WhisperModel(model_name, device=device, compute_type="int8")
    except Exception as error:  # noqa: BLE001 - report whatever the model loader says
        sys.exit(
            f"cannot load the Whisper model {model_name!r} ({error}); it must be downloaded "
            "once (needs internet) or given as a local directory with --model PATH"
        )

    def recognize(audio: npt.NDArray[np.float32], utterance: v2m.Utterance) -> str:
        segments, _ = model.transcribe(audio, language="en", beam_size=1)
        return " ".join(s.text.strip() for s in segments)

    return recognize


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asr", choices=["pocketsphinx", "faster-whisper"], default="pocketsphinx")
    parser.add_argument("--model", default="base.en", help="faster-whisper model name or directory")
    parser.add_argument("--device", default="cpu", help="faster-whisper device")
    parser.add_argument("--source", default="default", help="engine --source")
    parser.add_argument("--speed", default="realtime", help="engine --speed for a file source")
    parser.add_argument("--engine", help="path of v2m-engine")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    if args.asr == "pocketsphinx":
        recognize = pocketsphinx_recognizer()
    else:
        recognize = whisper_recognizer(args.model, args.device)
    live = args.source == "default" or args.source.startswith("device:")
    options: EngineOptions = {} if live else {"speed": args.speed, "pace_to_readers": True}
    with v2m.spawn(source=args.source, engine=args.engine, **options) as engine:
        with engine.reader(pace=not live) as reader:
            try:
                for u in reader.utterances():
                    print(f"[{u.start_s:6.2f} s +{u.duration:4.2f}] {recognize(u.audio, u)}")
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
