"""Key-to-partition mapping of the embedded backends: stable everywhere, spread over partitions.

Stability across processes is what lets a restarted producer keep an event's records together.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from streamjury.streams.partitioning import partition_for_key, partition_names

KEYS = [f"event-{n}" for n in range(200)]
PRINT_PARTITIONS = (
    "import json, sys\n"
    "from streamjury.streams.partitioning import partition_for_key\n"
    "print(json.dumps([partition_for_key(key, 6) for key in json.loads(sys.argv[1])]))\n"
)


def test_a_key_gets_the_same_partition_in_a_process_with_another_hash_seed() -> None:
    here = [partition_for_key(key, 6) for key in KEYS]

    result = subprocess.run(
        [sys.executable, "-c", PRINT_PARTITIONS, json.dumps(KEYS)],
        env={**os.environ, "PYTHONHASHSEED": "4242"},
        capture_output=True,
        text=True,
        check=True,
    )

    assert json.loads(result.stdout) == here


def test_keys_spread_over_every_partition() -> None:
    used = {partition_for_key(key, 6) for key in KEYS}

    assert used == set(partition_names(6))


def test_partition_names_count_from_zero() -> None:
    assert partition_names(3) == ["0", "1", "2"]
