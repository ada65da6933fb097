"""The joiner's working join: its encodings are byte for byte the models', and verdicts are
parsed as strictly as ``parse_model`` parses them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decision.join_state import Decided, JoinState
from decision.live_join import Join, verdict_json
from decision.rules import Ruling
from decision.service import parse_verdict
from streamjury.errors import InvalidEvent
from streamjury.schemas import (
    MAX_OUTPUT_BYTES,
    Decision,
    RideEstimate,
    SourcePosition,
    Verdict,
    parse_model,
)

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8, seconds=7))]
)
INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES
)
CLOCK = st.floats(0, 1e12) | st.floats(1e-9, 1) | st.sampled_from([1_700_000_000.0, 1e16])
EVENT_IDS = st.from_regex(r"\A[A-Za-z0-9_.:-]{1,64}\Z")
CHECKS = st.from_regex(r"\A[a-z][a-z0-9_]{0,20}\Z")


@st.composite
def verdicts(draw: st.DrawFn, event_id: str, event_type: str, occurred: datetime) -> Verdict:
    return Verdict(
        event_id=event_id,
        event_type=event_type,  # type: ignore[arg-type]
        check=draw(CHECKS),
        model_name=draw(TEXT),
        model_version=draw(TEXT),
        score=draw(st.none() | st.floats(0, 1)),
        value=draw(st.none() | st.floats(allow_nan=False, allow_infinity=False)),
        label=draw(st.none() | TEXT),
        details=draw(
            st.dictionaries(
                TEXT,
                st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                max_size=4,
            ).filter(lambda d: all(v not in (float("inf"), float("-inf")) for v in d.values()))
        ),
        event_occurred_at=occurred,
        produced_at=draw(INSTANTS),
        source=SourcePosition(stream=draw(TEXT), partition=draw(TEXT), offset=draw(st.integers(0))),
        arm=draw(st.sampled_from([None, "live", "canary"])),
    )


@st.composite
def states(draw: st.DrawFn) -> JoinState:
    event_id = draw(EVENT_IDS)
    event_type = draw(st.sampled_from(["ride", "upload"]))
    occurred = draw(INSTANTS)
    joined = draw(st.lists(verdicts(event_id, event_type, occurred), max_size=4))
    decided = draw(
        st.none()
        | st.builds(
            Decided,
            outcome=st.sampled_from(["estimate", "approve", "review", "remove", "incomplete"]),
            revision=st.integers(1, 10_000),
            decided_at=CLOCK,
        )
    )
    return JoinState(
        event_id=event_id,
        event_type=event_type,  # type: ignore[arg-type]
        event_occurred_at=occurred,
        opened_at=draw(CLOCK),
        verdicts=tuple(joined),
        decided=decided,
    )


@settings(max_examples=120, deadline=None)
@given(state=states())
def test_a_join_encodes_to_the_changelog_bytes_of_its_state(state: JoinState) -> None:
    join = Join.from_state(state)

    assert join.to_bytes() == state.to_bytes()
    assert join.to_state() == JoinState.from_bytes(state.to_bytes())  # offsets lose their seconds


@settings(max_examples=60, deadline=None)
@given(state=states(), outcome=st.sampled_from(["review", "remove"]), now=CLOCK)
def test_a_join_built_verdict_by_verdict_encodes_as_the_state_would(
    state: JoinState, outcome: str, now: float
) -> None:
    join = Join(state.event_id, state.event_type, state.event_occurred_at, state.opened_at)
    for verdict in state.verdicts:
        join.add(verdict, verdict_json(verdict))
    join.record_decision(outcome, now)  # type: ignore[arg-type]

    expected = state.model_copy(
        update={"decided": Decided(outcome=outcome, revision=1, decided_at=now)}  # type: ignore[arg-type]
    )
    assert join.to_bytes() == expected.to_bytes()


@settings(max_examples=120, deadline=None)
@given(
    state=states(),
    outcome=st.sampled_from(["estimate", "approve", "review", "remove", "incomplete"]),
    reasons=st.lists(TEXT, max_size=3),
    missing=st.lists(CHECKS, max_size=3),
    estimate=st.none()
    | st.builds(
        RideEstimate,
        eta_minutes=st.floats(allow_nan=False, allow_infinity=False),
        expected_tip=st.floats(allow_nan=False, allow_infinity=False),
        flags=st.lists(TEXT, max_size=2),
    ),
    revision=st.integers(1, 10_000),
    now=st.floats(0, 1e10),
)
def test_a_decision_encodes_as_the_decision_model_would(
    state: JoinState,
    outcome: str,
    reasons: list[str],
    missing: list[str],
    estimate: RideEstimate | None,
    revision: int,
    now: float,
) -> None:
    ruling = Ruling(outcome, tuple(reasons), tuple(missing), estimate)  # type: ignore[arg-type]

    encoded = Join.from_state(state).decision_bytes(ruling, revision, now)

    expected = Decision(
        event_id=state.event_id,
        event_type=state.event_type,
        outcome=outcome,  # type: ignore[arg-type]
        reasons=reasons,
        verdicts=list(state.verdicts),
        missing_checks=missing,
        estimate=estimate,
        revision=revision,
        event_occurred_at=state.event_occurred_at,
        decided_at=datetime.fromtimestamp(now, UTC),
    )
    assert encoded == expected.to_bytes()


def test_a_restored_state_that_repeats_a_check_counts_its_last_verdict_and_keeps_all(
    make_verdict: object,
) -> None:
    first = Verdict.model_validate_json(
        b'{"schema_version":1,"event_id":"e","event_type":"upload","check":"nsfw",'
        b'"model_name":"m","model_version":"1","score":0.1,"event_occurred_at":'
        b'"2024-05-01T12:00:00Z","produced_at":"2024-05-01T12:00:00Z",'
        b'"source":{"stream":"uploads","partition":"0","offset":1}}'
    )
    second = first.model_copy(update={"score": 0.9})
    state = JoinState(
        event_id="e",
        event_type="upload",
        event_occurred_at=first.event_occurred_at,
        opened_at=1.0,
        verdicts=(first, second),
    )

    join = Join.from_state(state)

    assert join.by_check["nsfw"] is state.by_check["nsfw"] is second
    assert join.to_bytes() == state.to_bytes()


# -- parsing ---------------------------------------------------------------------------------

GOOD = (
    b'{"schema_version":1,"event_id":"e-1","event_type":"ride","check":"duration",'
    b'"model_name":"m","model_version":"1","value":12.5,"event_occurred_at":'
    b'"2024-05-01T12:00:00+02:00","produced_at":"2024-05-01T12:00:01Z",'
    b'"source":{"stream":"rides","partition":"3","offset":7}}'
)


@pytest.mark.parametrize(
    "raw",
    [
        GOOD,
        GOOD.replace(b'"value":12.5', b'"value":12.5,"arm":"canary"'),
        GOOD.replace(b"{", b'{ "details": {"a": "\\u00e9", "b": 1} , ', 1),
    ],
)
def test_a_valid_verdict_parses_as_parse_model_parses_it(raw: bytes) -> None:
    assert parse_verdict(raw) == parse_model(Verdict, raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        GOOD.replace(b'"schema_version":1,', b""),
        GOOD.replace(b'"schema_version":1', b'"schema_version":2'),
        GOOD.replace(b'"value":12.5', b'"value":"12.5"'),
        GOOD.replace(b'"e-1"', b'"e 1"'),
        GOOD.replace(b'"value":12.5', b'"value":12.5,"extra":1'),
        GOOD.replace(b"+02:00", b""),
        GOOD[:-1] + b',"details":{"x":"' + b"y" * MAX_OUTPUT_BYTES + b'"}}',
    ],
)
def test_a_refused_verdict_is_refused_with_parse_models_reason(raw: bytes) -> None:
    with pytest.raises(InvalidEvent) as expected:
        parse_model(Verdict, raw)

    with pytest.raises(InvalidEvent) as refused:
        parse_verdict(raw)

    assert refused.value.reason == expected.value.reason
