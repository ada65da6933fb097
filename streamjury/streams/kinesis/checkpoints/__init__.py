"""Where Kinesis consumers keep shard leases and checkpoints: SQLite on one host, or DynamoDB."""

from streamjury.streams.kinesis.checkpoints.base import (
    Checkpoint,
    CheckpointStore,
    ShardLease,
    TableWrite,
)

__all__ = ["Checkpoint", "CheckpointStore", "ShardLease", "TableWrite"]
