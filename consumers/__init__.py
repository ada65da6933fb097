"""The model consumers: one check per process scores its stream in micro-batches into verdicts.

A check is a ``CheckSpec`` in ``consumers/checks/``, listed in ``registry.CHECKS``; ``app`` runs one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamjury.lazy import lazy_exports

if TYPE_CHECKING:
    from consumers.app import run_consumer, serve
    from consumers.check import CheckModel, CheckSpec, Prediction
    from consumers.registry import CHECKS, get_check
    from consumers.settings import ConsumerSettings

__all__ = [
    "CHECKS",
    "CheckModel",
    "CheckSpec",
    "ConsumerSettings",
    "Prediction",
    "get_check",
    "run_consumer",
    "serve",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "CHECKS": "consumers.registry",
        "CheckModel": "consumers.check",
        "CheckSpec": "consumers.check",
        "ConsumerSettings": "consumers.settings",
        "Prediction": "consumers.check",
        "get_check": "consumers.registry",
        "run_consumer": "consumers.app",
        "serve": "consumers.app",
    },
)
