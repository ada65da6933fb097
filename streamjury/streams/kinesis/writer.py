"""The Kinesis atomic writer: outputs, then table-stream state, then checkpoints; at-least-once.

Kinesis has no transactions, so the unit is made safe by its order rather than atomic:

1. check that every output stream exists and that this member still holds its leases;
2. write the outputs to Kinesis (PutRecords, retried until durable);
3. write the table-stream state (the decision service's ``decision-state``) and the
   checkpoints of the consumed records together in the checkpoint store, conditionally on this
   member still holding its leases (one SQLite transaction; DynamoDB transactions with the
   checkpoints in the last).

A crash or fencing after step 2 means the inputs are read again and their outputs written again:
a redelivery. The decision service's decisions are then repeated with the same event_id and
revision, which readers de-duplicate. Nothing is ever lost: a checkpoint never precedes its
outputs, and state is never written by a member that lost its leases.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from streamjury.streams.base import OutRecord, Record
from streamjury.streams.kinesis.catalog import StreamCatalog
from streamjury.streams.kinesis.consumer import KinesisConsumer
from streamjury.streams.kinesis.producer import write_outputs
from streamjury.streams.kinesis.put import RecordPutter

log = logging.getLogger(__name__)


class KinesisAtomicWriter:
    """Writes a consumer's outputs and commits its inputs in the safe order above."""

    exactly_once = False

    def __init__(
        self,
        consumer: KinesisConsumer,
        writer_id: str,
        catalog: StreamCatalog,
        putter: RecordPutter,
    ) -> None:
        self._consumer = consumer
        self.writer_id = writer_id
        self._catalog = catalog
        self._putter = putter

    def write_and_commit(
        self, outputs: Mapping[str, Sequence[OutRecord]], consumed: Sequence[Record]
    ) -> None:
        for stream in outputs:
            self._catalog.kind(stream)  # UnknownStream before anything is written
        self._consumer.check_may_commit(consumed)
        state = write_outputs(self._catalog, self._putter, outputs)
        self._consumer.commit_with_state(consumed, state)

    def abort_left_open(self, streams: Sequence[str]) -> None:
        """Nothing to close: Kinesis has no transactions, a record is visible once written."""

    def close(self) -> None:
        """Nothing to release: the consumer owns the leases."""
