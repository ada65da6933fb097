"""The decision service: joins each event's verdicts into one decision under a policy.

Pure parts (policy, rules, join_state, table, joiner) need no backend; service.py runs them over
one, and app.py is the composition root used by ``streamjury decide``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamjury.lazy import lazy_exports

if TYPE_CHECKING:
    from decision.app import build_service, run_decision_service
    from decision.joiner import Joiner
    from decision.policy import Policy, load_policy, parse_policy
    from decision.service import DecisionService, ServiceConfig, ServiceStats
    from decision.settings import DecisionSettings

__all__ = [
    "DecisionService",
    "DecisionSettings",
    "Joiner",
    "Policy",
    "ServiceConfig",
    "ServiceStats",
    "build_service",
    "load_policy",
    "parse_policy",
    "run_decision_service",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "DecisionService": "decision.service",
        "DecisionSettings": "decision.settings",
        "Joiner": "decision.joiner",
        "Policy": "decision.policy",
        "ServiceConfig": "decision.service",
        "ServiceStats": "decision.service",
        "build_service": "decision.app",
        "load_policy": "decision.policy",
        "parse_policy": "decision.policy",
        "run_decision_service": "decision.app",
    },
)
