"""``v2m-record``: the stream into a WAV file, optionally only its utterances, with an
Audacity label track of the speech segments.

A ring reader like any other. The file is valid at every moment (its header is kept
up to date), so Ctrl-C, SIGTERM, the ring closing or the engine dying all leave a
complete file. Frames lost to overrun are written as silence and counted, so the
file's timeline stays true. A multi-channel ring gives a WAV file of as many channels.

    v2m-record OUT.wav [--name NAME] [--speech-only] [--labels OUT.txt]
                       [--duration S] [--format int16|float32]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import List, Optional, TextIO

import numpy as np

from ..errors import V2MError, WriterGone
from ..reader import Reader
from ..segmenter import Span
from ..utterances import segmenter
from . import add_priority_argument, lower_priority, number, ring_name
from .wavfile import FORMATS, OutputRefused, WavWriter, open_output

BATCH_S = 0.25
"""How often the recorder wakes to write what arrived (the ring holds a minute)."""


class Recorder:
    """Writes a reader's frames (or its utterances) into ``wav``; labels into ``labels``."""

    def __init__(
        self, reader: Reader, wav: WavWriter, labels: Optional[TextIO], speech_only: bool
    ) -> None:
        self.reader, self.wav, self.labels, self.speech_only = reader, wav, labels, speech_only
        self.first: Optional[int] = None  # index of the first frame recorded
        self.next: Optional[int] = None  # the frame expected next
        self.lost = 0
        self.segments = 0
        self.segmenter = segmenter(reader.info)  # the segments utterances() would cut

    def take(self, index: int, samples: np.ndarray, vad_prob: float, discontinuity: bool) -> None:
        """One frame, in order of index."""
        size = self.reader.frame_samples
        if self.first is None:
            self.first = self.next = index
        assert self.next is not None
        gap = index - self.next
        if gap > 0:
            self.lost += gap
            if not self.speech_only:
                self.wav.write_silence(gap * size)
        if not self.speech_only:
            self.wav.write(samples)
        self.next = index + 1
        for span in self.segmenter.feed(index, vad_prob, discontinuity):
            self._segment(span)

    def finish(self) -> None:
        for span in self.segmenter.finish():
            self._segment(span)

    def _segment(self, span: Span) -> None:
        """A finished speech segment: its label, and its audio in speech-only mode."""
        assert self.first is not None
        rate, size = self.reader.sample_rate, self.reader.frame_samples
        if self.speech_only:
            start = self.wav.seconds
            for index in range(span.first, span.end):
                frame = self.reader.peek(index)
                samples = (
                    np.zeros(size * self.wav.channels, np.float32)
                    if frame is None
                    else frame.samples.copy()
                )
                if frame is not None and not frame.valid():  # overwritten during the copy
                    samples[:] = 0
                self.wav.write(samples)
            end = self.wav.seconds
        else:
            start = (span.first - self.first) * size / rate
            end = (span.end - self.first) * size / rate
        self.segments += 1
        if self.labels is not None:
            note = "" if span.complete else " (cut)"
            self.labels.write(f"{start:.6f}\t{end:.6f}\tspeech {self.segments}{note}\n")
            self.labels.flush()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="v2m-record", description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the WAV file to write")
    parser.add_argument("--name", default="default", type=ring_name, help="ring name")
    parser.add_argument("--speech-only", action="store_true", help="only the utterances")
    parser.add_argument("--labels", help="write an Audacity label track of the speech here")
    parser.add_argument(
        "--duration",
        type=number("seconds", above=0),
        help="stop after this many seconds of stream",
    )
    parser.add_argument("--format", choices=FORMATS, default="int16")
    parser.add_argument(
        "--wait",
        type=number("seconds", low=0),
        default=10.0,
        help="seconds to wait for the ring",
    )
    parser.add_argument(
        "--start",
        choices=("latest", "oldest"),
        default="latest",
        help="latest (default): from the next frame; oldest: from the oldest frame still in "
        "the ring (everything a file replay published so far)",
    )
    add_priority_argument(parser)
    args = parser.parse_args(argv)
    lower_priority(args.priority)
    stop = threading.Event()
    waiting = [True]

    def on_sigterm(*_: object) -> None:
        if waiting[0]:
            raise Terminated("stopped (SIGTERM) before recording began")  # out of the wait
        stop.set()  # the loop ends after the frame in hand: the file stays whole

    signal.signal(signal.SIGTERM, on_sigterm)
    # The outputs first: a path that cannot be written is said at once, not after the
    # wait for a ring; a file made here and never written is not left behind.
    made: List[str] = []
    outputs: List[int] = []
    try:
        for path in (args.out, args.labels):
            if path is not None:
                outputs.append(_open(path, made))
        reader = Reader(args.name, wait=args.wait, start=args.start)
    except (OutputRefused, V2MError, Terminated) as e:
        for fd in outputs:
            os.close(fd)
        for path in made:
            if os.path.lexists(path):
                os.unlink(path)
        print(f"v2m-record: {e}", file=sys.stderr)
        return 2
    waiting[0] = False
    wav = WavWriter(outputs[0], args.out, reader.sample_rate, args.format, reader.info.channels)
    labels = os.fdopen(outputs[1], "w") if args.labels else None
    recorder = Recorder(reader, wav, labels, args.speech_only)
    limit = None if args.duration is None else int(args.duration / reader.frame_duration)
    why, code = "the ring closed", 0
    try:
        while not stop.is_set():
            if limit is not None and recorder.first is not None:
                assert recorder.next is not None
                if recorder.next - recorder.first >= limit:
                    why = f"{args.duration:g} s recorded"
                    break
            frame = reader.read(timeout=0)
            if frame is None:
                if reader.ended:
                    break
                # Nothing waits on a recording: wake a few times a second and take what
                # came, rather than on every frame with the readers that need it fast.
                stop.wait(BATCH_S)
                continue
            recorder.take(frame.index, frame.samples, frame.vad_prob, frame.discontinuity)
        else:
            why = "stopped (SIGTERM)"
    except KeyboardInterrupt:
        why = "stopped (Ctrl-C)"
    except WriterGone:
        why, code = "the engine died", 1
    except OSError as e:  # the disk is full, or the file cannot be written any more
        why, code = _stopped_writing(e), 1
    finally:
        try:
            recorder.finish()
        except OSError as e:
            if code == 0:
                why, code = _stopped_writing(e), 1
        wav.close()
        if labels is not None:
            try:
                labels.close()
            except OSError:
                pass
        reader.close()
    lost = f"; {recorder.lost} frames lost to overrun, written as silence" if recorder.lost else ""
    print(
        f"v2m-record: {why}: {wav.seconds:.2f} s written to {args.out}, "
        f"{recorder.segments} speech segments{lost}",
        file=sys.stderr,
    )
    return code


class Terminated(Exception):
    """SIGTERM arrived before recording began: opening the outputs or waiting for the ring."""


def _stopped_writing(error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"stopped writing ({reason}); the file is valid and holds what came before"


def _open(path: str, made: List[str]) -> int:
    """:func:`open_output`, noting in ``made`` a file that did not exist before: noted
    first, so that a SIGTERM the instant it is created still finds it there."""
    if not os.path.lexists(path):
        made.append(path)
    return open_output(path)


if __name__ == "__main__":
    sys.exit(main())
