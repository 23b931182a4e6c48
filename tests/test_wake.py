"""The adaptive wake's decisions, on chosen publish and wake-up times: when it watches,
how early it wakes, how long it watches, and every way back to FUTEX_WAIT. Times are
given, not measured, so these say what the strategy does, not how fast a machine is.
Watch seats are real (abstract Unix socket names), so each test uses its own ring."""

from __future__ import annotations

import os
from typing import Iterator, List, Optional

import pytest

from v2m import wake
from v2m.wake import AdaptiveWake, Plan, WatchSeats

CADENCE = 32_000_000
FUTEX_DELAY = 150_000
"""How long after its publish a reader woken by FUTEX_WAIT holds a frame, here."""
SPARE_CORES = len(os.sched_getaffinity(0)) - 1

needs_a_spare_core = pytest.mark.skipif(
    SPARE_CORES < 1, reason="watching needs a core to spare; this machine has one"
)


@pytest.fixture
def waker(ring_name: str) -> Iterator[AdaptiveWake]:
    w = AdaptiveWake(ring_name)
    yield w
    w.close()


def feed(w: AdaptiveWake, first: int, count: int, cadence: int = CADENCE) -> List[Optional[Plan]]:
    """``count`` frames on the grid: before each the reader plans its wait (as
    ``Reader.read`` does), then holds the frame ``FUTEX_DELAY`` after its publish."""
    plans = []
    for i in range(first, first + count):
        publish = i * cadence
        plans.append(w.plan(publish - cadence + FUTEX_DELAY + 1_000))
        w.observe(publish, False, publish + FUTEX_DELAY)
    return plans


@needs_a_spare_core
def test_it_waits_in_futex_wait_until_it_has_learned_the_cadence(waker: AdaptiveWake) -> None:
    plans = feed(waker, 1, wake.MIN_SAMPLES)
    assert plans == [None] * wake.MIN_SAMPLES
    assert waker.futex_waits == {"learning": wake.MIN_SAMPLES}


@needs_a_spare_core
def test_once_learned_it_wakes_ahead_of_the_due_frame_and_watches_a_short_window(
    waker: AdaptiveWake,
) -> None:
    feed(waker, 1, 12)
    last = 12 * CADENCE
    plan = waker.plan(last + FUTEX_DELAY + 1_000)
    assert waker.cadence_ns == CADENCE
    due = last + CADENCE
    # untrained timer: it asks to be woken its guess and the warm-up ahead; frames land
    # on the grid, so the window past the due time is the minimum.
    early = wake.UNTRAINED_TIMER_NS + wake.WARM_UP_NS
    assert plan == Plan(due - early, due + wake.MIN_LATE_NS)


@needs_a_spare_core
def test_how_early_it_wakes_follows_its_timer_and_how_long_it_watches_follows_the_jitter(
    waker: AdaptiveWake,
) -> None:
    for _ in range(wake.MIN_TIMER_SAMPLES):
        waker.timer_woke(300_000)  # this machine's timers wake 300 µs late
    for i in range(1, 13):  # every fourth frame lands 100 µs after its grid point
        publish = i * CADENCE + (100_000 if i % 4 == 3 else 0)
        waker.plan(publish - CADENCE + FUTEX_DELAY)
        waker.observe(publish, False, publish + FUTEX_DELAY)
    plan = waker.plan(12 * CADENCE + FUTEX_DELAY)
    assert plan is not None
    due = 13 * CADENCE
    assert plan.wake_ns == due - (300_000 + wake.WARM_UP_NS)
    assert plan.give_up_ns == due + 2 * 100_000  # twice the p95 lateness


@needs_a_spare_core
def test_a_stalled_source_sends_it_back_to_futex_wait(waker: AdaptiveWake) -> None:
    feed(waker, 1, 12)
    due = 13 * CADENCE
    assert waker.plan(due + wake.MIN_LATE_NS + 1) is None  # past the window: no watching
    assert waker.futex_waits["late"] == 1


@needs_a_spare_core
def test_a_discontinuity_or_restart_starts_the_learning_over(waker: AdaptiveWake) -> None:
    feed(waker, 1, 12)
    waker.observe(13 * CADENCE, True, 13 * CADENCE + FUTEX_DELAY)
    assert waker.plan(13 * CADENCE + FUTEX_DELAY) is None
    assert waker.cadence_ns is None
    feed(waker, 14, 12)
    waker.reset()  # what Reader does when it follows a new engine
    assert waker.plan(26 * CADENCE + FUTEX_DELAY) is None
    assert waker.cadence_ns is None


@needs_a_spare_core
def test_a_fast_cadence_is_left_to_futex_wait(waker: AdaptiveWake) -> None:
    fast = wake.MIN_CADENCE_NS // 2  # a file replayed fast: wake-ups are cheap there
    feed(waker, 1, 20, cadence=fast)
    assert waker.plan(20 * fast + FUTEX_DELAY) is None
    assert waker.futex_waits["cadence"] >= 1


@needs_a_spare_core
def test_timers_too_irregular_for_the_cpu_budget_are_left_to_futex_wait(
    waker: AdaptiveWake,
) -> None:
    for late in [0] * (wake.MIN_TIMER_SAMPLES - 2) + [300_000] * 2:
        waker.timer_woke(late)  # usually on time, at p95 300 µs late
    cadence = 5_000_000  # a typical watch of 300 µs + warm-up is 7 % of 5 ms: over budget
    feed(waker, 1, 20, cadence=cadence)
    assert waker.plan(20 * cadence + FUTEX_DELAY) is None
    assert waker.futex_waits["budget"] >= 1


@needs_a_spare_core
@pytest.mark.parametrize("cadence_ms", [5, 10, 20, 32])
def test_it_watches_at_every_audio_cadence_within_the_budget(
    waker: AdaptiveWake, cadence_ms: int
) -> None:
    """Untrained and then with this machine's timers (50 µs late, steadily), the
    reader wakes ahead of the frame at 5, 10, 20 and 32 ms: the warm-up and the
    untrained guess shrink with the cadence, so the watch fits its 3 %."""
    cadence = cadence_ms * 1_000_000
    feed(waker, 1, 12, cadence=cadence)
    untrained = waker.plan(12 * cadence + FUTEX_DELAY)
    assert untrained is not None, waker.futex_waits
    assert 13 * cadence - untrained.wake_ns <= wake.CPU_BUDGET * cadence
    for _ in range(wake.MIN_TIMER_SAMPLES):
        waker.timer_woke(50_000)
    feed(waker, 13, 4, cadence=cadence)
    trained = waker.plan(16 * cadence + FUTEX_DELAY)
    assert trained is not None, waker.futex_waits
    warm_up = min(wake.WARM_UP_NS, int(wake.WARM_UP_SHARE * cadence))
    assert trained.wake_ns == 17 * cadence - (50_000 + warm_up)


@needs_a_spare_core
def test_watches_that_deliver_later_than_futex_wait_back_off(waker: AdaptiveWake) -> None:
    feed(waker, 1, 12)
    i = 13
    # A busy CPU: each watched frame is first seen 2 ms after its publish.
    while waker.plan((i - 1) * CADENCE + FUTEX_DELAY) is not None:
        publish = i * CADENCE
        waker.saw(publish + 2_000_000)
        waker.observe(publish, False, publish + 2_000_000)
        i += 1
        assert i < 100, "it never backed off"
    assert waker.backoffs == 1 and waker.futex_waits["backoff"] == 1
    assert "budget" not in waker.futex_waits, "it compared, not ran out of budget"
    waker.observe(i * CADENCE, False, i * CADENCE + FUTEX_DELAY)
    plans = feed(waker, i + 1, wake.BACKOFF_FRAMES - 1)
    assert plans == [None] * (wake.BACKOFF_FRAMES - 1)
    after = i + wake.BACKOFF_FRAMES
    assert waker.plan((after - 1) * CADENCE + FUTEX_DELAY) is not None, "then it tries again"


@needs_a_spare_core
def test_no_reader_watches_while_more_adaptive_readers_than_spare_cores_share_the_ring(
    ring_name: str,
) -> None:
    first = [AdaptiveWake(ring_name) for _ in range(SPARE_CORES)]
    newcomer: Optional[AdaptiveWake] = None
    try:
        for r in first:
            feed(r, 1, 12)
            assert r.plan(12 * CADENCE + FUTEX_DELAY) is not None
        newcomer = AdaptiveWake(ring_name)
        feed(newcomer, 1, 12)
        assert newcomer.plan(12 * CADENCE + FUTEX_DELAY) is None
        assert newcomer.futex_waits["no core to spare"] >= 1
        # The others notice at their next look (every SEAT_CHECK_FRAMES frames).
        for r in first:
            feed(r, 13, wake.SEAT_CHECK_FRAMES)
            assert r.plan((12 + wake.SEAT_CHECK_FRAMES) * CADENCE + FUTEX_DELAY) is None
        newcomer.close()
        for r in first:  # and watch again once it is gone
            feed(r, 13 + wake.SEAT_CHECK_FRAMES, wake.SEAT_CHECK_FRAMES)
            assert r.plan((12 + 2 * wake.SEAT_CHECK_FRAMES) * CADENCE + FUTEX_DELAY)
    finally:
        for r in first:
            r.close()
        if newcomer is not None:
            newcomer.close()


def test_seats_and_presence_are_released_with_the_reader(ring_name: str) -> None:
    first = WatchSeats(ring_name)
    first.take()
    assert first.held == (SPARE_CORES >= 1)
    assert not first.crowded() or SPARE_CORES == 0
    crowd = [WatchSeats(ring_name) for _ in range(SPARE_CORES)]
    assert first.crowded(), "more adaptive readers than cores to spare"
    for seats in crowd:
        seats.close()
    first.close()
    again = WatchSeats(ring_name)
    try:
        again.take()
        assert again.held == (SPARE_CORES >= 1), "a closed reader's seat is free again"
        assert not again.crowded() or SPARE_CORES == 0
    finally:
        again.close()


@needs_a_spare_core
def test_a_new_cadence_is_learned_again(waker: AdaptiveWake) -> None:
    """A stream that goes from 32 ms frames to 10 ms ones (a mirror whose source was
    restarted faster, say) without a discontinuity: a lone double interval is a lost
    frame, a run of other intervals is a new cadence."""
    feed(waker, 1, 12)
    waker.observe(14 * CADENCE, False, 14 * CADENCE + FUTEX_DELAY)  # frame 13 was lost
    waker.plan(14 * CADENCE + FUTEX_DELAY)
    assert waker.cadence_ns == CADENCE, "one lost frame changes nothing"
    faster, start = 10_000_000, 14 * CADENCE
    for k in range(1, 16):
        publish = start + k * faster
        waker.plan(publish - faster + FUTEX_DELAY)
        waker.observe(publish, False, publish + FUTEX_DELAY)
    assert waker.cadence_ns == faster
    plan = waker.plan(start + 15 * faster + FUTEX_DELAY)
    assert plan is not None and plan.wake_ns < start + 16 * faster < plan.give_up_ns
