"""A short torture run (the long one is `bench/torture.py`)."""

from __future__ import annotations

from support.torture import torture


def test_lapped_readers_never_accept_a_wrong_frame_and_account_for_every_frame(
    ring_name: str,
) -> None:
    result = torture(ring_name, seconds=3)
    assert result["engine_exit"] == 0
    readers = result["readers"]
    assert isinstance(readers, list) and len(readers) == 4
    for r in readers:
        assert r["accepted_wrong"] == 0, r
        assert r["out_of_order"] == 0, r
        assert r["received"] + r["torn_after_use"] + r["dropped"] == r["written"] - r["first"], r
    assert sum(r["dropped"] for r in readers) > 0, "the readers were lapped"
    assert readers[0]["written"] > 10_000
