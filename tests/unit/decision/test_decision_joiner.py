"""Specification of the joiner: per-verdict decisions, timers, retention and partition restore."""

from __future__ import annotations

import pytest

from decision.join_state import JoinState, decide, record_verdict
from decision.joiner import MAX_CHECKS_PER_EVENT, Changes, Joiner
from decision.policy import Policy
from streamjury.schemas import SourcePosition
from tests.unit.decision.support import FakeClock, VerdictFactory

PARTITION = "0"
RETENTION_S = 600.0


@pytest.fixture
def joiner(policy: Policy) -> Joiner:
    joiner = Joiner(policy, retention_s=RETENTION_S)
    joiner.restore(PARTITION, [])
    return joiner


def offer_upload(
    joiner: Joiner,
    make_verdict: VerdictFactory,
    now: float,
    event_id: str = "up-1",
    **scores: float,
) -> None:
    for check, score in scores.items():
        joiner.offer(PARTITION, make_verdict(check, event_id=event_id, score=score), now)


def test_a_batch_with_all_of_an_events_verdicts_yields_one_decision(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    offer_upload(joiner, make_verdict, clock(), copyright=0.1, nsfw=0.1, violence=0.1)

    changes = joiner.settle(clock())

    assert [(d.event_id, d.outcome) for d in changes.decisions] == [("up-1", "approve")]
    state = changes.states["up-1"]
    assert state is not None
    assert state.decided is not None


def published(changes: list[Changes]) -> list[bytes]:
    """Every decision of ``changes`` as published, but for its ``decided_at``."""
    return [
        record.to_decision().model_dump_json(exclude={"decided_at"}).encode()
        for batch in changes
        for record in batch.decision_records
    ]


def test_where_batches_are_cut_never_changes_the_decisions(
    policy: Policy, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    # An early removal, then the other checks: replayed after a crash on an at-least-once
    # backend, the same verdicts may arrive in one batch where they first came in three.
    verdicts = [
        make_verdict("copyright", event_id="up-1", score=0.95),
        make_verdict("nsfw", event_id="up-1", score=0.7),
        make_verdict("violence", event_id="up-1", score=0.1),
    ]
    one_batch = Joiner(policy, retention_s=RETENTION_S)
    one_batch.restore(PARTITION, [])
    for verdict in verdicts:
        one_batch.offer(PARTITION, verdict, clock())
    together = [one_batch.settle(clock())]
    three_batches = Joiner(policy, retention_s=RETENTION_S)
    three_batches.restore(PARTITION, [])
    apart = []
    for verdict in verdicts:
        three_batches.offer(PARTITION, verdict, clock())
        apart.append(three_batches.settle(clock()))

    assert published(together) == published(apart)
    assert [d.outcome for d in together[0].decisions] == ["remove"]
    assert [v.check for v in together[0].decisions[0].verdicts] == ["copyright"]


def test_verdicts_across_batches_are_joined(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    offer_upload(joiner, make_verdict, clock(), copyright=0.1, nsfw=0.1)
    first = joiner.settle(clock())
    clock.advance(1)
    offer_upload(joiner, make_verdict, clock(), violence=0.1)

    second = joiner.settle(clock())

    assert first.decisions == []
    assert "up-1" in first.states
    assert [d.outcome for d in second.decisions] == ["approve"]


def test_a_duplicate_verdict_changes_nothing_and_publishes_nothing(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    offer_upload(joiner, make_verdict, clock(), copyright=0.1, nsfw=0.1, violence=0.1)
    joiner.settle(clock())

    accepted = joiner.offer(PARTITION, make_verdict("nsfw", event_id="up-1", score=0.99), clock())
    changes = joiner.settle(clock())

    assert accepted is False
    assert not changes


def test_a_join_times_out_on_a_settle_without_new_verdicts(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock, policy: Policy
) -> None:
    offer_upload(joiner, make_verdict, clock(), copyright=0.1)
    joiner.settle(clock())
    clock.advance(policy.upload.timeout_s - 1)
    assert not joiner.settle(clock())
    clock.advance(1)

    changes = joiner.settle(clock())

    assert len(changes.decisions) == 1
    decision = changes.decisions[0]
    assert (decision.outcome, decision.missing_checks) == ("review", ["nsfw", "violence"])


def test_a_decided_join_is_dropped_and_tombstoned_after_the_retention(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    offer_upload(joiner, make_verdict, clock(), copyright=0.99)
    joiner.settle(clock())
    clock.advance(RETENTION_S - 1)
    assert not joiner.settle(clock())
    clock.advance(1)

    changes = joiner.settle(clock())

    assert changes.states == {"up-1": None}
    assert changes.decisions == []
    assert len(joiner) == 0


def test_within_the_retention_a_redelivered_verdict_is_still_caught(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    offer_upload(joiner, make_verdict, clock(), copyright=0.99)
    joiner.settle(clock())
    clock.advance(RETENTION_S - 1)

    accepted = joiner.offer(
        PARTITION, make_verdict("copyright", event_id="up-1", score=0.99), clock()
    )

    assert accepted is False


def test_after_the_retention_a_redelivered_verdict_opens_a_new_join(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    # The documented trade-off of bounded state: the old decision is forgotten.
    offer_upload(joiner, make_verdict, clock(), copyright=0.99)
    joiner.settle(clock())
    clock.advance(RETENTION_S)
    joiner.settle(clock())

    offer_upload(joiner, make_verdict, clock(), copyright=0.99)
    changes = joiner.settle(clock())

    assert [(d.outcome, d.revision) for d in changes.decisions] == [("remove", 1)]


def test_an_amendment_restarts_the_retention(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    offer_upload(joiner, make_verdict, clock(), copyright=0.1)
    clock.advance(60)
    joiner.settle(clock())  # timed out: review
    clock.advance(RETENTION_S - 1)
    offer_upload(joiner, make_verdict, clock(), nsfw=0.1, violence=0.1)
    amended = joiner.settle(clock())
    clock.advance(1)

    later = joiner.settle(clock())

    assert [(d.outcome, d.revision) for d in amended.decisions] == [("approve", 2)]
    assert not later
    assert len(joiner) == 1


def test_restore_keeps_the_last_state_per_key_and_honours_tombstones(
    policy: Policy, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    first = record_verdict(None, make_verdict("copyright", event_id="a", score=0.1), clock())
    second = record_verdict(first, make_verdict("nsfw", event_id="a", score=0.1), clock())
    gone = record_verdict(None, make_verdict("nsfw", event_id="b", score=0.1), clock())
    assert first is not None
    assert second is not None
    assert gone is not None
    joiner = Joiner(policy, retention_s=RETENTION_S)

    count = joiner.restore(
        PARTITION,
        [("a", first.to_bytes()), ("b", gone.to_bytes()), ("a", second.to_bytes()), ("b", b"")],
    )

    assert count == 1
    assert joiner.offer(PARTITION, make_verdict("nsfw", event_id="a", score=0.5), clock()) is False


def test_restore_skips_an_undecodable_state(policy: Policy) -> None:
    joiner = Joiner(policy, retention_s=RETENTION_S)

    count = joiner.restore(PARTITION, [("a", b"not json")])

    assert count == 0
    assert joiner.owns(PARTITION)


def test_a_restored_open_join_times_out_from_its_original_open_time(
    policy: Policy, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    opened = record_verdict(None, make_verdict("copyright", event_id="a", score=0.1), clock())
    assert opened is not None
    clock.advance(policy.upload.timeout_s)
    joiner = Joiner(policy, retention_s=RETENTION_S)
    joiner.restore(PARTITION, [("a", opened.to_bytes())])

    changes = joiner.settle(clock())

    assert [(d.event_id, d.outcome) for d in changes.decisions] == [("a", "review")]


def test_a_restored_decision_is_amended_with_the_next_revision(
    policy: Policy, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    opened = record_verdict(None, make_verdict("duration", event_id="r", value=9.0), clock())
    assert opened is not None
    incomplete, _ = decide(opened, policy, clock() + policy.ride.timeout_s)
    joiner = Joiner(policy, retention_s=RETENTION_S)
    joiner.restore(PARTITION, [("r", incomplete.to_bytes())])

    joiner.offer(PARTITION, make_verdict("tip", event_id="r", value=1.0), clock() + 40)
    changes = joiner.settle(clock() + 40)

    assert [(d.outcome, d.revision) for d in changes.decisions] == [("estimate", 2)]


def test_releasing_a_partition_drops_its_joins_and_their_timers(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock, policy: Policy
) -> None:
    offer_upload(joiner, make_verdict, clock(), copyright=0.1)
    joiner.settle(clock())

    joiner.release(PARTITION)
    clock.advance(policy.upload.timeout_s)

    assert not joiner.owns(PARTITION)
    assert not joiner.settle(clock())
    assert len(joiner) == 0


def test_a_verdict_for_a_known_check_without_its_number_is_rejected(
    joiner: Joiner, make_verdict: VerdictFactory
) -> None:
    assert joiner.rejection(PARTITION, make_verdict("nsfw", score=None)) is not None


def test_a_verdict_changing_the_event_type_is_rejected(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    offer_upload(joiner, make_verdict, clock(), event_id="x", nsfw=0.1)

    reason = joiner.rejection(PARTITION, make_verdict("duration", event_id="x", value=3.0))

    assert reason is not None


def test_a_duplicate_is_not_rejected_even_if_it_would_be_unusable(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    offer_upload(joiner, make_verdict, clock(), nsfw=0.1)

    assert joiner.rejection(PARTITION, make_verdict("nsfw", event_id="up-1", score=None)) is None


def test_a_batch_writes_the_states_of_only_the_events_it_changed(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    offer_upload(joiner, make_verdict, clock(), event_id="one", nsfw=0.1)
    joiner.settle(clock())
    offer_upload(joiner, make_verdict, clock(), event_id="two", nsfw=0.1)

    changes = joiner.settle(clock())

    assert list(changes.states) == ["two"]
    assert isinstance(changes.states["two"], JoinState)


def test_verdicts_beyond_the_per_event_cap_are_rejected(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    for n in range(MAX_CHECKS_PER_EVENT):
        joiner.offer(PARTITION, make_verdict(f"extra_{n}", event_type="upload", score=0.1), clock())

    reason = joiner.rejection(PARTITION, make_verdict("one_more", event_type="upload", score=0.1))

    assert reason is not None


def test_a_decided_join_keeps_only_its_verdicts_json_and_still_knows_them(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    offer_upload(joiner, make_verdict, clock(), copyright=0.1, nsfw=0.1, violence=0.1)
    joiner.settle(clock())
    held = joiner.held_join(PARTITION, "up-1")
    assert held is not None
    assert held.compacted  # decided: the verdict models are gone, their JSON stays

    again = joiner.join(PARTITION, make_verdict("nsfw", event_id="up-1", score=0.1), clock())
    resent = make_verdict("nsfw", event_id="up-1", score=0.8)  # the event sent again, changed
    resent = resent.model_copy(
        update={"source": SourcePosition(stream="uploads", partition="0", offset=9)}
    )
    other = joiner.join(PARTITION, resent, clock())
    changes = joiner.settle(clock())

    assert again is False  # a redelivery, recognised from the JSON
    assert isinstance(other, str)
    assert "conflicting duplicate" in other
    assert changes.decisions == []
    assert held.compacted


def test_late_checks_reaching_a_compacted_join_amend_with_every_verdict(
    joiner: Joiner, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    offer_upload(joiner, make_verdict, clock(), copyright=0.1)
    clock.advance(60)
    first = joiner.settle(clock())  # timed out: review, and compacted
    held = joiner.held_join(PARTITION, "up-1")
    assert held is not None
    assert held.compacted

    offer_upload(joiner, make_verdict, clock(), nsfw=0.1, violence=0.1)
    amended = joiner.settle(clock())

    assert [(d.outcome, d.revision) for d in first.decisions] == [("review", 1)]
    [decision] = amended.decisions
    assert (decision.outcome, decision.revision) == ("approve", 2)
    assert [v.check for v in decision.verdicts] == ["copyright", "nsfw", "violence"]
    assert decision.verdicts[0] == first.decisions[0].verdicts[0]


def test_restored_decided_joins_are_compacted_and_open_ones_are_not(
    joiner: Joiner, policy: Policy, make_verdict: VerdictFactory, clock: FakeClock
) -> None:
    offer_upload(
        joiner, make_verdict, clock(), event_id="done", copyright=0.1, nsfw=0.1, violence=0.1
    )
    offer_upload(joiner, make_verdict, clock(), event_id="open", copyright=0.1)
    changelog = list(joiner.settle(clock()).state_records.items())

    restored = Joiner(policy, retention_s=RETENTION_S)
    restored.restore(PARTITION, changelog)

    done, still_open = (restored.held_join(PARTITION, e) for e in ("done", "open"))
    assert done is not None
    assert done.compacted
    assert still_open is not None
    assert not still_open.compacted
    assert set(done.by_check) == {"copyright", "nsfw", "violence"}
