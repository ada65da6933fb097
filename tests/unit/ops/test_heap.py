"""settle_startup_heap: what startup built leaves the collector's scans; later cycles are still
freed; young collections are spaced out for batch work.

Run in a child interpreter, so this test process's own heap is never frozen.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import gc, json, weakref
from streamjury.ops.heap import YOUNG_COLLECTION_EVERY, settle_startup_heap

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a

startup = cycle()                      # lives as long as the process, like a loaded model
tracked_before = gc.is_tracked(startup)
threshold_before = gc.get_threshold()
frozen = settle_startup_heap()
scanned = {id(o) for o in gc.get_objects()}
later = weakref.ref(cycle())           # garbage made after the freeze: a cycle only gc can free
gc.collect()
print(json.dumps({
    "tracked_before": tracked_before,
    "frozen": frozen,
    "startup_still_scanned": id(startup) in scanned,
    "later_cycle_freed": later() is None,
    "threshold_before": threshold_before,
    "threshold_after": gc.get_threshold(),
    "young_every": YOUNG_COLLECTION_EVERY,
}))
"""


def test_startup_objects_are_frozen_and_later_cycles_are_still_collected() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(done.stdout)

    assert found["tracked_before"] is True
    assert found["frozen"] > 1_000  # the interpreter's and streamjury's own objects too
    assert found["startup_still_scanned"] is False
    assert found["later_cycle_freed"] is True


def test_young_collections_are_spaced_out_and_the_older_thresholds_kept() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(done.stdout)

    young_before, *older_before = found["threshold_before"]
    young_after, *older_after = found["threshold_after"]
    assert young_before < found["young_every"]
    assert young_after == found["young_every"]
    assert older_after == older_before
