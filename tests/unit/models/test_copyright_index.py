"""The copyright index: vectorised Hamming search over protected 64-bit fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from models import copyright_index
from models.copyright_index import QUERY_BLOCK, CopyrightIndex, parse_fingerprints, popcount
from producers.synthetic import protected_fingerprints
from streamjury.errors import ModelError

REGISTRY = ["0000000000000000", "ffffffffffffffff", "00000000ffffffff"]


def flip(fingerprint: str, *bits: int) -> str:
    value = int(fingerprint, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:016x}"


def test_exact_copy_matches_at_distance_zero_with_score_one() -> None:
    matches = CopyrightIndex(REGISTRY).lookup(["00000000ffffffff"])

    assert matches.best_match == ["00000000ffffffff"]
    assert list(matches.distance) == [0]
    assert list(matches.score) == [1.0]
    assert list(matches.is_match) == [True]


def test_near_copy_reports_its_source_and_bit_distance() -> None:
    matches = CopyrightIndex(REGISTRY).lookup([flip("ffffffffffffffff", 3, 40, 63)])

    assert matches.best_match == ["ffffffffffffffff"]
    assert list(matches.distance) == [3]
    assert matches.score[0] == pytest.approx(1 - 3 / 20)


def test_distance_beyond_the_threshold_is_not_a_match() -> None:
    index = CopyrightIndex(REGISTRY, threshold_bits=4)

    matches = index.lookup([flip("0000000000000000", 1, 2, 3, 4, 5)])

    assert list(matches.distance) == [5]
    assert list(matches.is_match) == [False]
    assert matches.score[0] < 0.5


def test_results_follow_query_order_across_query_blocks() -> None:
    registry = protected_fingerprints(seed=1, count=50)
    queries = [registry[i % 50] for i in range(QUERY_BLOCK * 2 + 7)]

    matches = CopyrightIndex(registry).lookup(queries)

    assert matches.best_match == queries
    assert not matches.distance.any()


def test_byte_table_popcount_agrees_with_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    values = parse_fingerprints(protected_fingerprints(seed=2, count=100))
    expected = [bin(int(v)).count("1") for v in values]
    monkeypatch.delattr(copyright_index.np, "bitwise_count")

    assert list(popcount(values)) == expected


def test_parse_fingerprints_reads_big_endian_hex() -> None:
    parsed = parse_fingerprints(["0000000000000001", "8000000000000000"])

    assert parsed.dtype == np.uint64
    assert list(parsed) == [1, 2**63]


@pytest.mark.parametrize("bad", ["xyz0000000000000", "00ff"])
def test_malformed_fingerprints_are_a_model_error(bad: str) -> None:
    with pytest.raises(ModelError):
        parse_fingerprints([bad])


def test_an_empty_registry_is_refused() -> None:
    with pytest.raises(ModelError, match="at least one"):
        CopyrightIndex([])
