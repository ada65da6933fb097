"""Near-duplicate lookup of content fingerprints against a registry of protected works.

A fingerprint is a 64-bit perceptual hash: re-encoding or cropping flips a few bits, so a copy
is anything within a small Hamming distance of a protected fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from streamjury.errors import ModelError

Array = npt.NDArray[Any]
DEFAULT_THRESHOLD_BITS = 10
"""Copies in the wild differ by a handful of bits; unrelated 64-bit hashes by about 32."""
QUERY_BLOCK = 512
"""Queries compared per step, bounding the (queries x registry) distance matrix in memory."""
_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def parse_fingerprints(fingerprints: Sequence[str]) -> npt.NDArray[np.uint64]:
    """16-hex-char strings to uint64, in one conversion of the concatenated hex."""
    try:
        raw = bytes.fromhex("".join(fingerprints))
    except ValueError as exc:
        raise ModelError(f"fingerprints must be hex strings: {exc}") from exc
    if any(len(f) != 16 for f in fingerprints):
        raise ModelError("fingerprints must be exactly 16 hex characters")
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64)


def popcount(values: npt.NDArray[np.uint64]) -> Array:
    """Set bits per element: ``np.bitwise_count`` on numpy 2, a byte lookup table before."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    as_bytes = values.view(np.uint8).reshape(*values.shape, 8)
    counts: Array = _BYTE_POPCOUNT[as_bytes].sum(axis=-1, dtype=np.uint8)
    return counts


@dataclass(frozen=True)
class Matches:
    """For each query: the closest protected fingerprint, its distance, a score and a label."""

    best_match: list[str]
    distance: Array
    score: Array
    is_match: Array


class CopyrightIndex:
    """The protected fingerprints as one uint64 array, searched by vectorised XOR + popcount.

    Brute force is right at this size (thousands of works): a 512 x 2000 block takes about a
    millisecond; a registry of millions would want a multi-index hash instead.
    """

    def __init__(
        self, protected: Sequence[str], threshold_bits: int = DEFAULT_THRESHOLD_BITS
    ) -> None:
        if not protected:
            raise ModelError("a copyright index needs at least one protected fingerprint")
        self.protected = parse_fingerprints(protected)
        self.threshold_bits = threshold_bits

    def __len__(self) -> int:
        return len(self.protected)

    def lookup(self, fingerprints: Sequence[str]) -> Matches:
        """Best match per query; ``score`` is 1 at distance 0, 0.5 at the threshold, 0 at 2x it."""
        queries = parse_fingerprints(fingerprints)
        best = np.zeros(len(queries), dtype=np.int64)
        distance = np.zeros(len(queries), dtype=np.int64)
        for start in range(0, len(queries), QUERY_BLOCK):
            block = queries[start : start + QUERY_BLOCK]
            distances = popcount(block[:, None] ^ self.protected[None, :])
            best[start : start + len(block)] = distances.argmin(axis=1)
            distance[start : start + len(block)] = distances.min(axis=1)
        score = np.clip(1.0 - distance / (2.0 * self.threshold_bits), 0.0, 1.0)
        return Matches(
            best_match=[f"{int(value):016x}" for value in self.protected[best]],
            distance=distance,
            score=score,
            is_match=distance <= self.threshold_bits,
        )
