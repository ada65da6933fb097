"""The Kinesis producer: buffers ``send``s, and ``flush`` writes them with PutRecords.

Records for table streams (compacted) are upserted into the checkpoint store instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence

from streamjury.errors import StreamError
from streamjury.streams.base import OutRecord
from streamjury.streams.kinesis.catalog import StreamCatalog
from streamjury.streams.kinesis.checkpoints.base import CheckpointStore, TableWrite, partition_of
from streamjury.streams.kinesis.put import RecordPutter, check_record

log = logging.getLogger(__name__)


def table_writes(
    catalog: StreamCatalog, stream: str, records: Sequence[OutRecord]
) -> list[TableWrite]:
    """The upserts (or, for empty values, deletes) that ``records`` make in a table stream."""
    layout = catalog.layout(stream)
    return [
        TableWrite(stream, partition_of(record.key, layout), record.key, record.value)
        for record in records
    ]


def write_outputs(
    catalog: StreamCatalog,
    putter: RecordPutter,
    outputs: Mapping[str, Sequence[OutRecord]],
    timeout: float | None = None,
) -> list[TableWrite]:
    """Write the Kinesis streams' records of ``outputs`` (stream by stream, in order) and return
    the table streams' records as writes for the caller to apply where it decides."""
    state: list[TableWrite] = []
    deadline = None if timeout is None else time.monotonic() + timeout
    for stream, records in outputs.items():
        if not records:
            continue
        if catalog.kind(stream) == "table":
            state.extend(table_writes(catalog, stream, records))
            continue
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        putter.put(stream, records, timeout=remaining)
    return state


class KinesisProducer:
    """``send`` checks and buffers; ``flush`` writes everything, the durability point.

    On DeliveryError the buffer is dropped, though some records may be written already:
    send again to retry (at-least-once).
    """

    def __init__(
        self, catalog: StreamCatalog, putter: RecordPutter, store: CheckpointStore
    ) -> None:
        self._catalog = catalog
        self._putter = putter
        self._store = store
        self._lock = threading.Lock()
        self._buffer: dict[str, list[OutRecord]] = {}
        self._closed = False

    def send(self, stream: str, records: Sequence[OutRecord]) -> None:
        kind = self._catalog.kind(stream)  # UnknownStream now, not at flush
        if kind == "kinesis":
            for record in records:
                check_record(record)
        with self._lock:
            if self._closed:
                raise StreamError("this producer is closed")
            self._buffer.setdefault(stream, []).extend(records)

    def flush(self, timeout: float = 30.0) -> None:
        """Write what was sent, stream by stream; each stream's records keep their order."""
        with self._lock:
            outputs, self._buffer = self._buffer, {}
            if not outputs:
                return
            state = write_outputs(self._catalog, self._putter, outputs, timeout)
            if state:
                self._store.write_table(state)
        log.debug("flushed %d records", sum(len(records) for records in outputs.values()))

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        finally:
            with self._lock:
                self._closed = True
