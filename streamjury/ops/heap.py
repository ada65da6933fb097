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

It also spaces young collections out (``YOUNG_COLLECTION_EVERY``): a micro-batch keeps its
records, parsed events and outputs alive until it is written, so at CPython's default every
young collection found them alive and promoted them, the older generations filled with objects
that died a moment later, and that set off full collections of everything the service holds.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


YOUNG_COLLECTION_EVERY = 20_000
"""Net container allocations between young collections (CPython's default: 700; 2,000 from
3.13). The decision service over Kafka, 98k verdicts in batches of up to 2,000 (``python -m
bench.decision_hotpath --bootstrap HOST:PORT --events 40000 --batch-size 2000``, with and
without ``--young-every 700``; 2026-12-05, back to back): 31.6-31.9 µs of CPU a verdict at 700,
26.0-28.4 µs at 20,000. Counted with ``gc.callbacks`` in a probe of the same run: 1,694
collections at 700, 12 of them full (the longest 50 ms), against 49 and none full (the longest
18 ms). Only cyclic garbage waits longer to be freed; reference counting frees the rest at
once, as before."""


def settle_startup_heap() -> int:
    """Collect once, freeze what startup built and space young collections out for batch work;
    returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_COLLECTION_EVERY), middle, old)
    log.debug(
        "froze %d startup objects out of the garbage collector's scans; young collections "
        "every %d allocations",
        frozen,
        gc.get_threshold()[0],
    )
    return frozen
