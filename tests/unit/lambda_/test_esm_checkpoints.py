"""The local runner's checkpoints kept in the Kinesis backend's own SQLite checkpoint store."""

from __future__ import annotations

from pathlib import Path

from streamjury.esm.checkpoints import SHARD_END, StoreCheckpoints
from streamjury.streams.kinesis.checkpoints.sqlite import SqliteCheckpointStore


def test_a_checkpoint_survives_reopening_the_store(tmp_path: Path) -> None:
    first = StoreCheckpoints(SqliteCheckpointStore(tmp_path / "c.db"), "fn", "rides")
    first.set("shardId-0", "100")
    first.set("shardId-0", "205")
    first.close()

    again = StoreCheckpoints(SqliteCheckpointStore(tmp_path / "c.db"), "fn", "rides")

    assert again.get("shardId-0") == "205"
    assert again.get("shardId-1") is None
    again.close()


def test_shard_end_is_remembered_as_finished(tmp_path: Path) -> None:
    checkpoints = StoreCheckpoints(SqliteCheckpointStore(tmp_path / "c.db"), "fn", "rides")
    checkpoints.set("shardId-0", "100")

    checkpoints.set("shardId-0", SHARD_END)

    assert checkpoints.get("shardId-0") == SHARD_END
    assert checkpoints.store.leases("fn", "rides")["shardId-0"].sequence == "100"
    checkpoints.close()


def test_mappings_and_streams_sharing_a_store_keep_their_own_checkpoints(tmp_path: Path) -> None:
    store = SqliteCheckpointStore(tmp_path / "c.db")
    duration = StoreCheckpoints(store, "duration", "rides")
    tip = StoreCheckpoints(store, "tip", "rides")
    uploads = StoreCheckpoints(store, "duration", "uploads")

    duration.set("shardId-0", "7")
    tip.set("shardId-0", "9")

    assert (duration.get("shardId-0"), tip.get("shardId-0")) == ("7", "9")
    assert uploads.get("shardId-0") is None
    store.close()
