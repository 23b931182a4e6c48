"""Each rule of ``utterances()``, on frames whose VAD probabilities and flags the test
chooses (the Python test writer publishes them; 512-sample frames at 16 kHz, 32 ms).

With the defaults: speech needs 8 frames (250 ms), ends after 16 quiet frames
(500 ms), and is padded by 10 frames (300 ms) on each side."""

from __future__ import annotations

from typing import Dict, Iterator, List, Sequence

import numpy as np
import pytest

import v2m
from support.python_writer import PythonWriter

SPEECH, QUIET = 0.9, 0.05


@pytest.fixture
def writer(ring_name: str) -> Iterator[PythonWriter]:
    w = PythonWriter(ring_name, slots=256, frame=512)
    yield w
    w.remove()


def probabilities(*runs: tuple[int, float]) -> List[float]:
    """``(count, p)`` runs laid end to end."""
    return [p for count, p in runs for _ in range(count)]


def cut(
    writer: PythonWriter,
    probs: Sequence[float],
    flags: Dict[int, int] | None = None,
    close: bool = True,
    **options: float,
) -> List[v2m.Utterance]:
    for i, p in enumerate(probs):
        writer.publish(i, vad_prob=p, flags=(flags or {}).get(i, 0))
    if close:
        writer.close()
    name = writer.path.rsplit("v2m-", 1)[1]
    with v2m.Reader(name, start="oldest") as reader:
        return list(reader.utterances(**options))  # type: ignore[arg-type]


def spans(utterances: List[v2m.Utterance]) -> List[tuple[int, int, bool]]:
    return [(u.first_index, u.first_index + u.frames, u.complete) for u in utterances]


def test_speech_shorter_than_min_speech_is_dropped(writer: PythonWriter) -> None:
    probs = probabilities((30, QUIET), (5, SPEECH), (45, QUIET))  # a 160 ms click
    assert cut(writer, probs) == []


def test_speech_of_min_speech_is_kept_with_its_pads(writer: PythonWriter) -> None:
    probs = probabilities((30, QUIET), (8, SPEECH), (45, QUIET))
    assert spans(cut(writer, probs)) == [(20, 48, True)]


def test_pads_of_close_sentences_never_overlap(writer: PythonWriter) -> None:
    # 18 quiet frames between them: enough to end the first (16), less than two pads (20).
    # The first is handed out as soon as its trailing pad is heard, so it keeps all of
    # it; the second's leading pad starts where the first ended.
    probs = probabilities((20, QUIET), (20, SPEECH), (18, QUIET), (20, SPEECH), (40, QUIET))
    first, second = cut(writer, probs)
    assert spans([first, second]) == [(10, 50, True), (50, 88, True)]
    assert first.first_index + first.frames == second.first_index, "touching, not overlapping"


def test_a_gap_shorter_than_the_pads_is_split_between_neighbours(writer: PythonWriter) -> None:
    # With a 100 ms minimum silence the first ends after 4 quiet frames, before its
    # pad is heard; the 6-frame gap is shared, 3 frames each.
    probs = probabilities((20, QUIET), (20, SPEECH), (6, QUIET), (20, SPEECH), (40, QUIET))
    assert spans(cut(writer, probs, min_silence_ms=100)) == [(10, 43, True), (43, 76, True)]


def test_a_short_pause_does_not_end_the_speech(writer: PythonWriter) -> None:
    probs = probabilities((20, QUIET), (20, SPEECH), (15, QUIET), (20, SPEECH), (40, QUIET))
    assert spans(cut(writer, probs)) == [(10, 85, True)]


def test_a_discontinuity_cuts_the_speech_and_nothing_is_joined_across_it(
    writer: PythonWriter,
) -> None:
    probs = probabilities((20, QUIET), (40, SPEECH), (40, QUIET))
    utterances = cut(writer, probs, flags={40: v2m.FLAG_DISCONTINUITY})
    # Cut at frame 40 without trailing pad; the speech after it starts a new
    # utterance whose leading pad does not reach back across the gap, so it lacks
    # audio the stream had (its pad, perhaps its first word): incomplete too.
    assert spans(utterances) == [(10, 40, False), (40, 70, False)]


def test_speech_well_after_a_gap_keeps_its_whole_pad_and_is_complete(
    writer: PythonWriter,
) -> None:
    # The first speech has ended (by 76) when the gap comes at 80; the second starts at
    # 90, its whole 10-frame pad after the gap.
    probs = probabilities((20, QUIET), (40, SPEECH), (30, QUIET), (20, SPEECH), (40, QUIET))
    utterances = cut(writer, probs, flags={80: v2m.FLAG_DISCONTINUITY})
    assert spans(utterances) == [(10, 70, True), (80, 120, True)]


def test_a_gap_inside_the_trailing_pad_makes_the_utterance_incomplete(
    writer: PythonWriter,
) -> None:
    # With 100 ms of silence the speech has ended by frame 44 and its pad would run to
    # 50; a gap at 45 cuts the pad short: the audio it should hold is missing.
    probs = probabilities((20, QUIET), (20, SPEECH), (60, QUIET))
    utterances = cut(writer, probs, flags={45: v2m.FLAG_DISCONTINUITY}, min_silence_ms=100)
    assert spans(utterances) == [(10, 45, False)]


def attach_mid_speech(writer: PythonWriter, attach_at: int, speech: int) -> List[v2m.Utterance]:
    """``speech`` frames of speech from frame 20; a reader attaches (``start="latest"``)
    at ``attach_at`` and reads to the end."""
    probs = probabilities((20, QUIET), (speech, SPEECH), (40, QUIET))
    name = writer.path.rsplit("v2m-", 1)[1]
    for i in range(attach_at):
        writer.publish(i, vad_prob=probs[i])
    with v2m.Reader(name, start="latest") as reader:
        assert reader.start_index == attach_at
        for i in range(attach_at, len(probs)):
            writer.publish(i, vad_prob=probs[i])
        writer.close()
        return list(reader.utterances())


def test_a_reader_attaching_mid_speech_gets_the_speech_from_its_start(
    writer: PythonWriter,
) -> None:
    (u,) = attach_mid_speech(writer, 35, speech=40)
    assert spans([u]) == [(10, 70, True)], "the start and pre-roll come from the history"


def test_speech_begun_before_the_oldest_frame_in_the_ring_is_incomplete(
    writer: PythonWriter,
) -> None:
    # 9.6 s of speech from frame 20; the 256-slot ring holds frames 104..359 when the
    # iteration begins: speech was already under way at its oldest frame.
    (u,) = attach_mid_speech(writer, 290, speech=300)
    assert (u.first_index, u.first_index + u.frames, u.complete) == (104, 330, False)


def test_a_discontinuity_shortens_the_trailing_pad_of_ended_speech(
    writer: PythonWriter,
) -> None:
    probs = probabilities((20, QUIET), (20, SPEECH), (60, QUIET))
    # Speech fell quiet at 40 and the gap at 45 came before the silence was long
    # enough to end it: cut there (incomplete), its pad stopping at the gap.
    assert spans(cut(writer, probs, flags={45: v2m.FLAG_DISCONTINUITY})) == [(10, 45, False)]


def test_speech_running_when_the_ring_closes_is_incomplete(writer: PythonWriter) -> None:
    probs = probabilities((20, QUIET), (30, SPEECH))
    assert spans(cut(writer, probs)) == [(10, 50, False)]


def test_long_speech_is_split_into_touching_incomplete_pieces(writer: PythonWriter) -> None:
    probs = probabilities((20, QUIET), (50, SPEECH), (40, QUIET))
    # max_utterance_s=0.64: 20 frames a piece.
    pieces = spans(cut(writer, probs, max_utterance_s=0.64))
    assert pieces == [(10, 40, False), (40, 60, False), (60, 80, True)]


def test_long_speech_is_split_at_its_last_pause(writer: PythonWriter) -> None:
    # 25 frames of speech, a 160 ms pause, 20 more; max_utterance_s=0.96: 30 frames.
    probs = probabilities((20, QUIET), (25, SPEECH), (5, QUIET), (20, SPEECH), (40, QUIET))
    pieces = spans(cut(writer, probs, max_utterance_s=0.96))
    assert pieces == [(10, 47, False), (47, 80, True)]


def test_a_frame_lost_inside_an_utterance_is_zeros_and_counted(writer: PythonWriter) -> None:
    probs = probabilities((20, QUIET), (20, SPEECH), (40, QUIET))
    for i, p in enumerate(probs):
        writer.publish(i, vad_prob=p)
    writer.begin(30 + 256)  # the writer is overwriting frame 30's slot: it is lost
    writer.close()
    name = writer.path.rsplit("v2m-", 1)[1]
    with v2m.Reader(name, start="oldest") as reader:
        (u,) = reader.utterances()
        assert reader.dropped == 1
    assert (u.first_index, u.frames, u.dropped) == (10, 40, 1)
    assert u.audio.flags.owndata, "an utterance with a hole is a copy"
    hole = u.audio[(30 - 10) * 512 : (31 - 10) * 512]
    assert not np.any(hole), "the lost frame is silence"
    assert np.array_equal(u.audio[:512], writer.content(10))
    assert np.array_equal(u.audio[-512:], writer.content(49))


def test_thresholds_come_from_the_header_unless_given(writer: PythonWriter) -> None:
    probs = probabilities((20, QUIET), (20, 0.45), (40, QUIET))
    assert cut(writer, probs) == []  # 0.45 is below the header's 0.5
    name = writer.path.rsplit("v2m-", 1)[1]
    with v2m.Reader(name, start="oldest") as reader:
        assert spans(list(reader.utterances(threshold=0.4))) == [(10, 50, True)]


def test_an_unknown_option_is_a_type_error(writer: PythonWriter) -> None:
    writer.publish(0)
    name = writer.path.rsplit("v2m-", 1)[1]
    with v2m.Reader(name, start="oldest") as reader:
        with pytest.raises(TypeError, match="min_silense_ms"):
            reader.utterances(min_silense_ms=300)  # type: ignore[call-arg]


def test_vad_events_report_each_edge_like_vaditerator(writer: PythonWriter) -> None:
    probs = probabilities((20, QUIET), (20, SPEECH), (20, QUIET), (10, SPEECH), (20, QUIET))
    for i, p in enumerate(probs):
        writer.publish(i, vad_prob=p, flags=v2m.FLAG_DISCONTINUITY if i == 65 else 0)
    writer.close()
    name = writer.path.rsplit("v2m-", 1)[1]
    with v2m.Reader(name, start="oldest") as reader:
        events = [(e.kind, e.sample, e.index) for e in reader.vad_events()]
    pad, size = 480, 512  # 30 ms at 16 kHz
    assert events == [
        ("start", 20 * size - pad, 20),  # on the first speech frame, padded earlier
        ("end", 40 * size + pad, 44),  # after 100 ms below the end threshold
        ("start", 60 * size - pad, 60),
        ("end", 65 * size, 65),  # a discontinuity ends speech at the gap
        ("start", 65 * size, 65),  # and speech after it starts anew, its pad not across it
        ("end", 70 * size + pad, 74),
    ]


def test_utterances_know_their_place_in_the_stream(writer: PythonWriter) -> None:
    probs = probabilities((20, QUIET), (20, SPEECH), (40, QUIET))
    (u,) = cut(writer, probs)
    assert (u.start_s, u.end_s) == (10 * 0.032, 50 * 0.032)
    copy = u.audio_copy()
    assert copy.flags.writeable and copy.flags.owndata and np.array_equal(copy, u.audio)
    copy *= 0.5  # a copy may be normalised in place
    pcm = u.audio_int16()
    assert pcm.dtype == np.int16 and np.array_equal(pcm, np.rint(u.audio * 32767).astype(np.int16))
