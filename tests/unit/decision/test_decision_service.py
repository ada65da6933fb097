"""Specification of the decision service on the memory backend: verdicts in, decisions out.

Decisions, join state and offsets are written together, so restarts and fencing neither lose
nor repeat a decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest

from decision.joiner import Joiner
from decision.policy import Policy
from decision.service import DecisionService, ServiceConfig
from streamjury.errors import OpenTransactionError
from streamjury.schemas import DeadLetter, Decision, Verdict
from streamjury.streams.base import OutRecord, Record, StreamConsumer
from streamjury.streams.memory import MemoryAtomicWriter, MemoryBackend, MemoryConsumer
from streamjury.streams.names import StreamNames
from tests.unit.decision.support import FakeClock, VerdictFactory

STREAMS = StreamNames()
GROUP = "test-decision"
RETENTION_S = 600.0
StartService = Callable[..., DecisionService]


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend(partitions=4)


@pytest.fixture
def start_service(
    backend: MemoryBackend, policy: Policy, clock: FakeClock
) -> Iterator[StartService]:
    """Starts services over the shared backend; all are closed at teardown."""
    started: list[DecisionService] = []

    def start(on: MemoryBackend | None = None, retention_s: float = RETENTION_S) -> DecisionService:
        service = DecisionService(
            on or backend,
            Joiner(policy, retention_s=retention_s),
            STREAMS,
            ServiceConfig(group=GROUP, writer_id="test", batch_size=100, batch_timeout_s=0.01),
            clock=clock,
        )
        service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.close()


def publish(backend: MemoryBackend, *verdicts: Verdict) -> None:
    publish_raw(backend, [(verdict.event_id, verdict.to_bytes()) for verdict in verdicts])


def publish_raw(backend: MemoryBackend, records: Sequence[tuple[str, bytes]]) -> None:
    producer = backend.producer()
    producer.send(STREAMS.verdicts, [OutRecord(key, value) for key, value in records])
    producer.flush()


def drain(service: DecisionService) -> None:
    """Step until a poll comes back empty: everything published so far is processed."""
    while service.step():
        pass


def read_all(backend: MemoryBackend, stream: str) -> list[Record]:
    return [
        record
        for partition in sorted(backend.end_offsets(stream))
        for record in backend.read_partition(stream, partition)
    ]


def decisions(backend: MemoryBackend) -> list[Decision]:
    return [Decision.model_validate_json(r.value) for r in read_all(backend, STREAMS.decisions)]


def dead_letters(backend: MemoryBackend) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(r.value) for r in read_all(backend, STREAMS.deadletter)]


def outcomes(backend: MemoryBackend) -> dict[tuple[str, int], str]:
    """(event_id, revision) -> outcome of every decision published."""
    found: dict[tuple[str, int], str] = {}
    for decision in decisions(backend):
        key = (decision.event_id, decision.revision)
        assert key not in found, f"duplicate decision {key}"
        found[key] = decision.outcome
    return found


def upload(make_verdict: VerdictFactory, event_id: str, **scores: float) -> list[Verdict]:
    return [make_verdict(check, event_id=event_id, score=s) for check, s in scores.items()]


def test_verdicts_in_give_one_decision_per_event_out(
    backend: MemoryBackend, start_service: StartService, make_verdict: VerdictFactory
) -> None:
    service = start_service()
    publish(backend, *upload(make_verdict, "up-1", copyright=0.1, nsfw=0.1, violence=0.1))
    publish(
        backend,
        make_verdict("duration", event_id="ride-1", value=14.0),
        make_verdict("tip", event_id="ride-1", value=2.0),
    )

    drain(service)

    assert outcomes(backend) == {("up-1", 1): "approve", ("ride-1", 1): "estimate"}
    assert all(
        r.key == Decision.model_validate_json(r.value).event_id
        for r in read_all(backend, STREAMS.decisions)
    )


def test_the_consumed_offsets_are_committed_with_the_decisions(
    backend: MemoryBackend, start_service: StartService, make_verdict: VerdictFactory
) -> None:
    service = start_service()
    publish(backend, *upload(make_verdict, "up-1", copyright=0.1, nsfw=0.1, violence=0.1))

    drain(service)

    ends = {p: end for p, end in backend.end_offsets(STREAMS.verdicts).items() if end}
    assert backend.committed(STREAMS.verdicts, GROUP) == ends


def test_each_changed_join_is_written_to_the_changelog_under_its_event_id(
    backend: MemoryBackend, start_service: StartService, make_verdict: VerdictFactory
) -> None:
    service = start_service()
    publish(backend, *upload(make_verdict, "up-1", copyright=0.99))

    drain(service)

    (state,) = read_all(backend, STREAMS.decision_state)
    assert state.key == "up-1"
    assert b'"outcome":"remove"' in state.value


def test_a_malformed_verdict_is_dead_lettered_and_the_service_keeps_going(
    backend: MemoryBackend, start_service: StartService, make_verdict: VerdictFactory
) -> None:
    service = start_service()
    publish_raw(backend, [("up-1", b"{not json")])
    publish(backend, *upload(make_verdict, "up-1", copyright=0.99))

    drain(service)

    (letter_record,) = read_all(backend, STREAMS.deadletter)
    letter = DeadLetter.model_validate_json(letter_record.value)
    assert letter.stage == "decision"
    assert letter.original == b"{not json"
    assert letter.source is not None
    assert letter.source.stream == STREAMS.verdicts
    assert outcomes(backend) == {("up-1", 1): "remove"}
    assert sum(backend.committed(STREAMS.verdicts, GROUP).values()) == 2


def test_a_large_malformed_record_is_dead_lettered_whole(
    backend: MemoryBackend, start_service: StartService
) -> None:
    service = start_service()
    huge = b"{" + b"x" * 20_000
    publish_raw(backend, [("up-1", huge)])

    drain(service)

    (letter_record,) = read_all(backend, STREAMS.deadletter)
    letter = DeadLetter.model_validate_json(letter_record.value)
    assert letter.original == huge
    assert not letter.original_truncated
    assert sum(backend.committed(STREAMS.verdicts, GROUP).values()) == 1


def test_a_verdict_not_keyed_by_its_event_id_is_dead_lettered(
    backend: MemoryBackend, start_service: StartService, make_verdict: VerdictFactory
) -> None:
    service = start_service()
    publish_raw(
        backend, [("other-key", make_verdict("nsfw", event_id="up-1", score=0.1).to_bytes())]
    )

    drain(service)

    assert len(read_all(backend, STREAMS.deadletter)) == 1
    assert read_all(backend, STREAMS.decision_state) == []


def test_a_redelivered_verdict_neither_decides_again_nor_writes_state(
    backend: MemoryBackend, start_service: StartService, make_verdict: VerdictFactory
) -> None:
    service = start_service()
    verdicts = upload(make_verdict, "up-1", copyright=0.1, nsfw=0.1, violence=0.1)
    publish(backend, *verdicts)
    drain(service)
    changelog_end = backend.end_offsets(STREAMS.decision_state)

    publish(backend, verdicts[1])
    drain(service)

    assert outcomes(backend) == {("up-1", 1): "approve"}
    assert backend.end_offsets(STREAMS.decision_state) == changelog_end


def test_a_timeout_fires_on_a_step_that_brings_no_verdicts(
    backend: MemoryBackend,
    start_service: StartService,
    make_verdict: VerdictFactory,
    clock: FakeClock,
    policy: Policy,
) -> None:
    service = start_service()
    publish(backend, *upload(make_verdict, "up-1", copyright=0.1))
    drain(service)
    clock.advance(policy.upload.timeout_s)

    consumed = service.step()

    assert consumed == 0
    (decision,) = decisions(backend)
    assert (decision.outcome, decision.missing_checks) == ("review", ["nsfw", "violence"])


def test_a_late_verdict_that_changes_the_outcome_publishes_the_next_revision(
    backend: MemoryBackend,
    start_service: StartService,
    make_verdict: VerdictFactory,
    clock: FakeClock,
    policy: Policy,
) -> None:
    service = start_service()
    publish(backend, make_verdict("duration", event_id="ride-1", value=50.0))
    drain(service)
    clock.advance(policy.ride.timeout_s)
    service.step()

    publish(backend, make_verdict("tip", event_id="ride-1", value=0.0))
    drain(service)

    assert outcomes(backend) == {("ride-1", 1): "incomplete", ("ride-1", 2): "estimate"}
    latest = decisions(backend)[-1]
    assert latest.estimate is not None
    assert latest.estimate.flags == ["long_ride", "no_tip_expected"]


def test_a_restarted_service_restores_its_joins_from_the_changelog(
    backend: MemoryBackend, start_service: StartService, make_verdict: VerdictFactory
) -> None:
    first = start_service()
    ride = [
        make_verdict("duration", event_id="ride-1", value=14.0),
        make_verdict("tip", event_id="ride-1", value=2.0),
    ]
    publish(backend, *ride, *upload(make_verdict, "up-1", copyright=0.1, nsfw=0.1))
    drain(first)
    first.close()

    second = start_service()
    publish(backend, ride[1], *upload(make_verdict, "up-1", violence=0.1))
    drain(second)

    assert outcomes(backend) == {("ride-1", 1): "estimate", ("up-1", 1): "approve"}
    assert [v.check for v in decisions(backend)[-1].verdicts] == ["copyright", "nsfw", "violence"]


def test_open_joins_of_a_crashed_instance_time_out_on_its_replacement(
    backend: MemoryBackend,
    start_service: StartService,
    make_verdict: VerdictFactory,
    clock: FakeClock,
    policy: Policy,
) -> None:
    crashed = start_service()
    publish(backend, *upload(make_verdict, "up-1", copyright=0.1))
    drain(crashed)
    backend.fence(GROUP)  # its lease expires without a clean close

    replacement = start_service()
    clock.advance(policy.upload.timeout_s)
    replacement.step()

    assert outcomes(backend) == {("up-1", 1): "review"}


class FenceOnFirstWrite(MemoryAtomicWriter):
    """Loses the group just before its first write, as an expired lease would mid-batch."""

    fenced = False

    def write_and_commit(
        self, outputs: Mapping[str, Sequence[OutRecord]], consumed: Sequence[Record]
    ) -> None:
        if not self.fenced:
            self.fenced = True
            self._consumer.backend.fence(GROUP)
        super().write_and_commit(outputs, consumed)


class FencingBackend(MemoryBackend):
    def atomic_writer(self, consumer: StreamConsumer, writer_id: str) -> MemoryAtomicWriter:
        assert isinstance(consumer, MemoryConsumer)
        return FenceOnFirstWrite(consumer, writer_id)


def test_a_fenced_batch_is_redone_from_the_changelog_without_duplicates(
    start_service: StartService, make_verdict: VerdictFactory
) -> None:
    backend = FencingBackend(partitions=4)
    service = start_service(on=backend)
    publish(backend, *upload(make_verdict, "up-1", copyright=0.1, nsfw=0.1, violence=0.1))

    lost = service.step()
    drain(service)

    assert lost == 0
    assert outcomes(backend) == {("up-1", 1): "approve"}


def test_an_expired_join_is_tombstoned_in_the_changelog(
    backend: MemoryBackend,
    start_service: StartService,
    make_verdict: VerdictFactory,
    clock: FakeClock,
) -> None:
    service = start_service(retention_s=30.0)
    publish(backend, *upload(make_verdict, "up-1", copyright=0.99))
    drain(service)
    clock.advance(30.0)

    service.step()

    (tombstone,) = read_all(backend, STREAMS.decision_state)
    assert (tombstone.key, tombstone.value) == ("up-1", b"")


def test_run_finishes_the_batch_in_hand_when_asked_to_stop(
    backend: MemoryBackend, start_service: StartService, make_verdict: VerdictFactory
) -> None:
    service = start_service()
    publish(backend, *upload(make_verdict, "up-1", copyright=0.1, nsfw=0.1, violence=0.1))
    asked = iter([False, True])

    stats = service.run(lambda: next(asked))

    assert stats.decisions == 1
    assert outcomes(backend) == {("up-1", 1): "approve"}
    assert sum(backend.committed(STREAMS.verdicts, GROUP).values()) == 3


def one_at_a_time(
    backend: MemoryBackend, policy: Policy, clock: FakeClock, grace_s: float = 10.0
) -> DecisionService:
    """A service whose batches hold one verdict, so a catch-up takes several steps."""
    config = ServiceConfig(
        group=GROUP,
        writer_id="test",
        batch_size=1,
        batch_timeout_s=0.01,
        catch_up_grace_s=grace_s,
    )
    service = DecisionService(
        backend, Joiner(policy, retention_s=RETENTION_S), STREAMS, config, clock=clock
    )
    service.start()
    return service


def test_verdicts_waiting_in_the_stream_win_over_a_timeout_that_passed_during_downtime(
    backend: MemoryBackend,
    make_verdict: VerdictFactory,
    clock: FakeClock,
    policy: Policy,
) -> None:
    crashed = one_at_a_time(backend, policy, clock)
    publish(backend, *upload(make_verdict, "up-1", copyright=0.1))
    drain(crashed)
    backend.fence(GROUP)
    publish(backend, *upload(make_verdict, "up-1", nsfw=0.1, violence=0.1))
    clock.advance(policy.upload.timeout_s * 2)  # down for longer than the timeout

    replacement = one_at_a_time(backend, policy, clock)
    drain(replacement)
    replacement.close()

    assert outcomes(backend) == {("up-1", 1): "approve"}


def test_timers_run_again_once_the_partition_is_caught_up(
    backend: MemoryBackend,
    make_verdict: VerdictFactory,
    clock: FakeClock,
    policy: Policy,
) -> None:
    crashed = one_at_a_time(backend, policy, clock)
    publish(backend, *upload(make_verdict, "up-1", copyright=0.1))
    drain(crashed)
    backend.fence(GROUP)
    publish(backend, *upload(make_verdict, "up-1", nsfw=0.1))
    clock.advance(policy.upload.timeout_s * 2)

    replacement = one_at_a_time(backend, policy, clock)
    drain(replacement)
    replacement.step()
    replacement.close()

    (decision,) = decisions(backend)
    assert (decision.outcome, decision.missing_checks) == ("review", ["violence"])


def test_a_held_partition_that_stays_silent_counts_as_caught_up_after_the_grace(
    backend: MemoryBackend,
    make_verdict: VerdictFactory,
    clock: FakeClock,
    policy: Policy,
) -> None:
    grace_s = policy.upload.timeout_s * 3
    service = one_at_a_time(backend, policy, clock, grace_s=grace_s)
    publish(backend, *upload(make_verdict, "up-1", copyright=0.1))
    drain(service)
    partition = read_all(backend, STREAMS.verdicts)[0].partition
    service._joiner.hold(partition)  # as if its end offset were never delivered (a txn marker)
    service._catch_up[partition] = (10**9, clock())
    clock.advance(policy.upload.timeout_s)
    service.step()
    assert decisions(backend) == []

    clock.advance(grace_s)
    service.step()
    service.close()

    (decision,) = decisions(backend)
    assert decision.missing_checks == ["nsfw", "violence"]


def from_offset(verdict: Verdict, offset: int, **changes: object) -> Verdict:
    source = verdict.source.model_copy(update={"offset": offset})
    return verdict.model_copy(update={"source": source, **changes})


def test_the_same_event_id_with_other_content_is_dead_lettered_and_counted(
    backend: MemoryBackend, start_service: StartService, make_verdict: VerdictFactory
) -> None:
    service = start_service()
    first = make_verdict("copyright", event_id="up-1", score=0.1)
    publish(backend, first, *upload(make_verdict, "up-1", nsfw=0.1, violence=0.1))
    drain(service)

    publish(backend, from_offset(first, 7, score=0.99))  # a protected fingerprint this time
    drain(service)

    (letter,) = dead_letters(backend)
    assert letter.reason.startswith("conflicting duplicate: event up-1 check copyright")
    assert "score 0.99" in letter.reason
    assert service.stats.conflicting_duplicates == 1


def test_the_same_event_sent_twice_or_redelivered_is_a_harmless_duplicate(
    backend: MemoryBackend, start_service: StartService, make_verdict: VerdictFactory
) -> None:
    service = start_service()
    first = make_verdict("copyright", event_id="up-1", score=0.1)
    publish(backend, first, *upload(make_verdict, "up-1", nsfw=0.1, violence=0.1))
    drain(service)

    publish(backend, from_offset(first, 7), first.model_copy(update={"model_version": "2"}))
    drain(service)

    assert dead_letters(backend) == []
    assert outcomes(backend) == {("up-1", 1): "approve"}
    assert service.stats.conflicting_duplicates == 0


class LeftOpen(MemoryBackend):
    """Its changelog reads wait on a transaction until ``sweeps_to_close`` sweeps have run."""

    def __init__(self, sweeps_to_close: int) -> None:
        super().__init__(partitions=4)
        self.open = False
        self.sweeps_to_close = sweeps_to_close
        self.swept: list[list[str]] = []

    def read_partition(
        self, stream: str, partition: str, start_offset: int = 0
    ) -> Iterator[Record]:
        if self.open and stream == STREAMS.decision_state:
            raise OpenTransactionError(f"{stream}/{partition} still has a transaction open")
        return super().read_partition(stream, partition, start_offset)

    def atomic_writer(self, consumer: StreamConsumer, writer_id: str) -> MemoryAtomicWriter:
        assert isinstance(consumer, MemoryConsumer)
        return Sweeping(consumer, writer_id, self)


class Sweeping(MemoryAtomicWriter):
    def __init__(self, consumer: MemoryConsumer, writer_id: str, backend: LeftOpen) -> None:
        super().__init__(consumer, writer_id)
        self.backend = backend

    def abort_left_open(self, streams: Sequence[str]) -> None:
        self.backend.swept.append(list(streams))
        if len(self.backend.swept) >= self.backend.sweeps_to_close:
            self.backend.open = False


def restart_over_a_transaction_left_open(
    backend: LeftOpen, start_service: StartService, make_verdict: VerdictFactory
) -> DecisionService:
    """Two of an upload's verdicts joined, the service restarted with its changelog reads held
    up, and the third verdict published: the returned service restores when it next steps."""
    first = start_service(on=backend)
    publish(backend, *upload(make_verdict, "up-1", copyright=0.1, nsfw=0.1))
    drain(first)
    first.close()
    backend.open = True
    second = start_service(on=backend)
    publish(backend, *upload(make_verdict, "up-1", violence=0.1))
    return second


def test_a_restore_held_up_by_a_transaction_left_open_sweeps_and_restores(
    start_service: StartService, make_verdict: VerdictFactory
) -> None:
    backend = LeftOpen(sweeps_to_close=1)
    second = restart_over_a_transaction_left_open(backend, start_service, make_verdict)
    drain(second)

    assert backend.swept == [[STREAMS.decisions, STREAMS.decision_state, STREAMS.deadletter]]
    assert outcomes(backend) == {("up-1", 1): "approve"}  # the restored join, completed


def test_a_restore_still_held_up_after_the_sweep_fails_rather_than_decide_without_it(
    start_service: StartService, make_verdict: VerdictFactory
) -> None:
    backend = LeftOpen(sweeps_to_close=2)
    second = restart_over_a_transaction_left_open(backend, start_service, make_verdict)
    with pytest.raises(OpenTransactionError, match="still has a transaction open"):
        drain(second)

    assert len(backend.swept) == 1
    assert outcomes(backend) == {}
