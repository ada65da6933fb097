"""What a deploy did to each resource: created it, updated some fields, or left it alone.

An idempotent deploy is one whose second run reports ``unchanged`` everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class Change:
    resource: str
    action: Action
    fields: tuple[str, ...] = ()
    """For ``updated``: the API fields that differed and were sent."""

    def __str__(self) -> str:
        if self.action == "updated":
            return f"{self.resource}: updated {', '.join(self.fields)}"
        return f"{self.resource}: {self.action}"
