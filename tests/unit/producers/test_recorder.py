"""Recording a slice of a stream: bounds, order, group-less reading, and the file it writes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producers.recorder import (
    Bound,
    PartitionSlice,
    append_time_us,
    atomic_output,
    plan_slice,
    read_slice,
    record_stream,
    write_values,
)
from streamjury.clock import FakeClock
from streamjury.errors import ConfigError, StreamjuryError
from streamjury.streams.base import OutRecord, Record
from streamjury.streams.memory import MemoryBackend

SAMPLES = Path(__file__).resolve().parents[3] / "tests" / "data"
T0 = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


def t0_ms(seconds: float = 0.0) -> int:
    return int((T0 + timedelta(seconds=seconds)).timestamp() * 1000)


@pytest.fixture
def ride_lines() -> list[bytes]:
    return (SAMPLES / "rides.jsonl").read_bytes().splitlines()


@pytest.fixture
def rides(backend: MemoryBackend, ride_lines: list[bytes]) -> MemoryBackend:
    """The sample rides on the memory backend's ``rides`` stream, keyed by event_id."""
    producer = backend.producer()
    producer.send("rides", [OutRecord(f"key-{n}", line) for n, line in enumerate(ride_lines)])
    producer.flush()
    return backend


def values(records: Iterator[Record]) -> list[bytes]:
    return [record.value for record in records]


class StampedLog:
    """Just enough of a backend to read partitions whose records carry chosen timestamps."""

    def __init__(self, partitions: dict[str, list[int]]) -> None:
        self._records = {
            partition: [
                Record("s", partition, offset, f"{partition}-{offset}", b"{}", stamp)
                for offset, stamp in enumerate(stamps)
            ]
            for partition, stamps in partitions.items()
        }

    def end_offsets(self, stream: str) -> dict[str, int]:
        return {partition: len(records) for partition, records in self._records.items()}

    def read_partition(
        self, stream: str, partition: str, start_offset: int = 0
    ) -> Iterator[Record]:
        return iter(self._records[partition][start_offset:])


# -- bounds --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["earliest", "latest", "EARLIEST", " latest "])
def test_named_bounds_parse(text: str) -> None:
    assert Bound.parse(text, FakeClock()).kind == text.strip().lower()


def test_now_is_the_clocks_current_time() -> None:
    clock = FakeClock(T0)

    bound = Bound.parse("now", clock)

    assert bound == Bound("time", timestamp_ms=t0_ms())


def test_iso_time_with_an_offset_parses_to_epoch_milliseconds() -> None:
    bound = Bound.parse("2024-06-03T14:00:00+02:00", FakeClock())

    assert bound == Bound("time", timestamp_ms=t0_ms())


def test_iso_time_without_an_offset_is_utc() -> None:
    assert Bound.parse("2024-06-03T12:00:00", FakeClock()).timestamp_ms == t0_ms()


def test_offsets_parse_per_partition() -> None:
    bound = Bound.parse("0:10,3:7", FakeClock())

    assert bound == Bound("offsets", offsets={"0": 10, "3": 7})


@pytest.mark.parametrize("text", ["yesterday", "0:", "0:-1", "0:1,", "", "0:1,0:2"])
def test_unreadable_bounds_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        Bound.parse(text, FakeClock())


def test_offsets_as_a_start_choose_the_partitions_read() -> None:
    plan = plan_slice(
        {"0": 10, "1": 10, "2": 10}, Bound("offsets", offsets={"1": 4}), Bound("latest")
    )

    assert plan == [PartitionSlice("1", 4, 10)]


def test_offsets_as_an_end_cap_their_partitions_only() -> None:
    plan = plan_slice({"0": 10, "1": 10}, Bound("earliest"), Bound("offsets", offsets={"0": 3}))

    assert plan == [PartitionSlice("0", 0, 3), PartitionSlice("1", 0, 10)]


def test_an_end_offset_past_the_current_end_stops_at_the_current_end() -> None:
    plan = plan_slice({"0": 5}, Bound("earliest"), Bound("offsets", offsets={"0": 99}))

    assert plan == [PartitionSlice("0", 0, 5)]


def test_an_unknown_partition_is_a_config_error_naming_the_real_ones() -> None:
    with pytest.raises(ConfigError, match=r"no partition 9: .* 0, 1"):
        plan_slice({"0": 1, "1": 1}, Bound("offsets", offsets={"9": 0}), Bound("latest"))


def test_partitions_are_planned_in_numeric_order() -> None:
    ends = {str(p): 1 for p in (10, 2, 1, 0)}

    plan = plan_slice(ends, Bound("earliest"), Bound("latest"))

    assert [part.partition for part in plan] == ["0", "1", "2", "10"]


# -- reading a slice -----------------------------------------------------------------------


def test_a_whole_event_stream_comes_back_in_event_time_order(
    rides: MemoryBackend, ride_lines: list[bytes]
) -> None:
    recorded = values(record_stream(rides, "rides", "rides", Bound("earliest"), Bound("latest")))

    assert recorded == ride_lines  # the sample is in event-time order, spread over 4 partitions


def test_each_partition_keeps_its_offset_order(rides: MemoryBackend) -> None:
    recorded = list(record_stream(rides, "rides", "rides", Bound("earliest"), Bound("latest")))

    for partition in rides.end_offsets("rides"):
        offsets = [record.offset for record in recorded if record.partition == partition]
        assert offsets == sorted(offsets)
        assert offsets == list(range(rides.end_offsets("rides")[partition]))


def test_an_offset_slice_reads_exactly_those_offsets(rides: MemoryBackend) -> None:
    start = Bound("offsets", offsets={"0": 2, "1": 5})
    stop = Bound("offsets", offsets={"0": 4, "1": 6})

    recorded = list(record_stream(rides, "rides", "rides", start, stop))

    assert sorted((r.partition, r.offset) for r in recorded) == [("0", 2), ("0", 3), ("1", 5)]


def test_recording_stops_at_the_end_seen_when_it_started(
    rides: MemoryBackend, ride_lines: list[bytes]
) -> None:
    recording = record_stream(rides, "rides", "rides", Bound("earliest"), Bound("latest"))
    producer = rides.producer()
    producer.send("rides", [OutRecord("late", ride_lines[0])])
    producer.flush()

    assert len(list(recording)) == len(ride_lines)


def test_recording_leaves_committed_positions_alone(rides: MemoryBackend) -> None:
    member = rides.consumer(["rides"], group="duration")
    member.commit(member.poll(max_records=10, timeout=0))
    before = rides.committed("rides", "duration")
    member.close()

    list(record_stream(rides, "rides", "rides", Bound("earliest"), Bound("latest")))

    assert rides.committed("rides", "duration") == before
    resumed = rides.consumer(["rides"], group="duration")
    first_offset: dict[str, int] = {}
    for record in resumed.poll(max_records=10_000, timeout=0):
        first_offset.setdefault(record.partition, record.offset)
    resumed.close()
    assert first_offset == {partition: before.get(partition, 0) for partition in first_offset}
    assert set(first_offset) == set(rides.end_offsets("rides"))


def test_a_time_slice_is_half_open_on_stream_timestamps() -> None:
    log = StampedLog({"0": [t0_ms(0), t0_ms(1), t0_ms(2), t0_ms(3)], "1": [t0_ms(1.5), t0_ms(2.5)]})
    plan = plan_slice(
        log.end_offsets("s"),
        Bound("time", timestamp_ms=t0_ms(1)),
        Bound("time", timestamp_ms=t0_ms(2.5)),
    )

    recorded = list(read_slice(log, "s", plan, append_time_us))  # type: ignore[arg-type]

    assert [record.key for record in recorded] == ["0-1", "1-0", "0-2"]


def test_ties_in_time_go_to_the_lower_partition_first() -> None:
    log = StampedLog({"1": [t0_ms(), t0_ms()], "0": [t0_ms(), t0_ms()]})
    plan = plan_slice(log.end_offsets("s"), Bound("earliest"), Bound("latest"))

    recorded = list(read_slice(log, "s", plan, append_time_us))  # type: ignore[arg-type]

    assert [record.key for record in recorded] == ["0-0", "0-1", "1-0", "1-1"]


# -- writing -------------------------------------------------------------------------------


def test_values_are_written_one_per_line() -> None:
    out = io.BytesIO()
    records = [Record("s", "0", n, "k", b'{"n":%d}' % n, 0) for n in range(3)]

    written = write_values(records, out)

    assert written == 3
    assert out.getvalue() == b'{"n":0}\n{"n":1}\n{"n":2}\n'


@pytest.mark.parametrize("value", [b'{"a":\n1}', b"", b"{}\r"])
def test_a_value_that_cannot_be_one_line_is_refused(value: bytes) -> None:
    with pytest.raises(StreamjuryError, match="s/0@7"):
        write_values([Record("s", "0", 7, "k", value, 0)], io.BytesIO())


def test_a_failed_recording_leaves_no_file_behind(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"

    with pytest.raises(StreamjuryError), atomic_output(target) as out:
        write_values([Record("s", "0", 0, "k", b"{}", 0), Record("s", "0", 1, "k", b"", 0)], out)

    assert list(tmp_path.iterdir()) == []


def test_a_finished_recording_appears_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"

    with atomic_output(target) as out:
        write_values([Record("s", "0", 0, "k", b"{}", 0)], out)

    assert target.read_bytes() == b"{}\n"
    assert list(tmp_path.iterdir()) == [target]
