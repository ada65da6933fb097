"""Keep CPython's cyclic garbage collector from pausing a service's hot loop.

A full (oldest-generation) collection walks every tracked object, and a service that has loaded
its models, imports and clients holds tens of thousands of them for its whole life: 21-42 ms
per full collection with one check's model loaded (``python -m bench.stage_latency --gc``), ~0
after the freeze. Every such collection pauses the batch in hand.

``settle_startup_heap`` runs once, when startup is over: one collection, then ``gc.freeze()``
moves every surviving object into the permanent generation, which collections no longer visit
(the pattern CPython documents for forking servers, and which long-lived services use for the
same reason). Garbage is still freed: reference counting frees most objects at once, and cycles
made after the freeze are collected as before. ``gc.unfreeze()`` undoes it. What the service
builds while it runs (the decision service's joins) is not frozen: its collections still scan
that, which is why join retention matters for latency as well as memory.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def settle_startup_heap() -> int:
    """Collect once, then freeze what startup built; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d startup objects out of the garbage collector's scans", frozen)
    return frozen
