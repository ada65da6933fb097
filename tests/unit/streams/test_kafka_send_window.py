"""The Kafka producer's send window turns failure reports (content only) into the indices of the
records that were not written, overall and per stream; success costs it nothing per record."""

from __future__ import annotations

from streamjury.streams.base import OutRecord
from streamjury.streams.kafka.window import SendWindow, content


def records(*keys: str) -> list[OutRecord]:
    return [OutRecord(key, f"{key}:v".encode()) for key in keys]


def test_a_window_without_failures_has_nothing_unwritten() -> None:
    window = SendWindow()
    window.add("verdicts", records("a", "b"))

    assert window.close([]) == ((), {})


def test_failures_map_to_their_indices_overall_and_per_stream() -> None:
    window = SendWindow()
    first, other, second = records("a", "b", "c"), records("x", "y"), records("d", "e")
    window.add("verdicts", first)
    window.add("deadletter", other)
    window.add("verdicts", second)

    unwritten, by_stream = window.close(
        [
            content("verdicts", second[1]),
            content("deadletter", other[0]),
            content("verdicts", first[1]),
        ]
    )

    assert unwritten == (1, 3, 6)
    assert by_stream == {"verdicts": (1, 4), "deadletter": (0,)}


def test_identical_records_that_failed_each_count_once() -> None:
    window = SendWindow()
    same = OutRecord("k", b"same")
    window.add("verdicts", [same, *records("a"), same, same])

    unwritten, by_stream = window.close([content("verdicts", same)] * 2)

    assert unwritten == (0, 2)  # two of the three copies, the first ones
    assert by_stream == {"verdicts": (0, 2)}


def test_the_same_record_sent_to_two_streams_is_told_apart_by_stream() -> None:
    window = SendWindow()
    record = OutRecord("k", b"v")
    window.add("verdicts", [record])
    window.add("deadletter", [record])

    assert window.close([content("deadletter", record)]) == ((1,), {"deadletter": (0,)})


def test_an_empty_value_matches_the_null_value_a_tombstone_reports() -> None:
    window = SendWindow()
    window.add("changelog", [OutRecord("k", b"")])

    assert window.close([("changelog", b"k", None)]) == ((0,), {"changelog": (0,)})


def test_records_never_queued_are_unwritten_without_a_report() -> None:
    window = SendWindow()
    sent = window.add("verdicts", records("a", "b", "c"))
    sent.queued = 1

    assert window.close([]) == ((1, 2), {"verdicts": (1, 2)})


def test_after_lose_all_every_record_so_far_is_unwritten_and_later_ones_by_report() -> None:
    window = SendWindow()
    window.add("verdicts", records("a", "b"))
    window.lose_all()
    later = records("c", "d")
    window.add("verdicts", later)

    assert window.close([content("verdicts", later[1])]) == ((0, 1, 3), {"verdicts": (0, 1, 3)})


def test_a_failure_that_matches_no_record_makes_the_whole_window_unwritten() -> None:
    window = SendWindow()
    window.add("verdicts", records("a", "b"))

    unwritten, by_stream = window.close([content("verdicts", OutRecord("elsewhere", b"v"))])

    assert unwritten == (0, 1)
    assert by_stream == {"verdicts": (0, 1)}


def test_the_caller_may_reuse_its_list_after_send() -> None:
    window = SendWindow()
    batch = records("a", "b")
    window.add("verdicts", batch)
    failed = content("verdicts", batch[1])
    batch.clear()

    assert window.close([failed]) == ((1,), {"verdicts": (1,)})


def test_close_starts_a_new_window_whose_indices_count_from_zero() -> None:
    window = SendWindow()
    window.add("verdicts", records("a"))
    window.close([])
    batch = records("b")
    window.add("verdicts", batch)

    assert window.close([content("verdicts", batch[0])]) == ((0,), {"verdicts": (0,)})
