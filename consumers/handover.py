"""Where a check's new consumer group starts when the same checks already ran in other groups.

Co-located checks commit as one group (``streamjury-duration+tip``), each check alone as its own
(``streamjury-duration``). Moving a check between the two would otherwise start the new group
from ``--from-beginning`` (re-scoring everything kept) or ``--from-latest`` (skipping what came
in between). Instead a default-named group with no position of its own starts, partition by
partition, where the least advanced of its checks stands (each check standing at the furthest
position any group that scored it reached): nothing is skipped, and what a more advanced check
scores again is a redelivery the decision service drops as a duplicate. A group that already
has a position resumes from it, however stale: delete an old group before switching back to it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from consumers.registry import CHECKS
from consumers.settings import default_group
from streamjury.streams.base import Backend, StartFrom


@dataclass(frozen=True, slots=True)
class Handover:
    """A new group's start, taken over from the groups that ran its checks before."""

    start: StartFrom
    groups: tuple[str, ...]
    """The related groups whose positions were used, for the log."""


def related_groups(check: str, stream: str, prefix: str = "") -> list[str]:
    """Every default group that ever scored ``check``: its own, and each co-located set of its
    stream's checks that includes it."""
    siblings = [name for name, spec in CHECKS.items() if spec.stream == stream and name != check]
    groups = [default_group([check], prefix)]
    for size in range(1, len(siblings) + 1):
        for others in itertools.combinations(siblings, size):
            groups.append(default_group([check, *others], prefix))
    return groups


def take_over(
    backend: Backend, stream: str, checks: Sequence[str], group: str, prefix: str = ""
) -> Handover | None:
    """The start of ``group`` (which has no position yet) from related groups' positions, or
    None when some check never ran anywhere (the configured start then applies).

    A check's verdicts exist up to the furthest position any of its groups committed; the new
    group starts each partition at the least advanced check's. A partition one of the checks
    has no position for is left out (it starts at the earliest record): scoring twice is
    harmless, skipping is not.
    """
    if backend.committed(stream, group):
        return None  # the group resumes from its own position
    used: list[str] = []
    per_check: list[dict[str, int]] = []
    for check in checks:
        known: dict[str, int] = {}
        for other in related_groups(check, stream, prefix):
            if other == group:
                continue
            offsets = backend.committed(stream, other)
            if not offsets:
                continue
            used.append(other)
            for partition, offset in offsets.items():
                known[partition] = max(offset, known.get(partition, offset))
        if not known:
            return None
        per_check.append(known)
    shared = set.intersection(*(set(known) for known in per_check))
    start = {
        partition: min(known[partition] for known in per_check) for partition in sorted(shared)
    }
    return Handover(StartFrom.at_offsets(start), tuple(dict.fromkeys(used)))
