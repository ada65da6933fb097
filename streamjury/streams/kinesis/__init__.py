"""The Amazon Kinesis transport (boto3): shard leases, checkpoints, table-backed state streams."""

from streamjury.streams.kinesis.backend import KinesisBackend, open_checkpoint_store

__all__ = ["KinesisBackend", "open_checkpoint_store"]
