"""Which streams exist and what they are: Kinesis streams, or table streams in the checkpoint store.

Creates them on demand (waiting until Kinesis reports them ACTIVE) and remembers what it learnt.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from streamjury.errors import ConfigError, StreamError, UnknownStream
from streamjury.streams.kinesis.checkpoints.base import (
    CheckpointStore,
    TablePartition,
    uniform_layout,
)
from streamjury.streams.kinesis.clients import error_code

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

log = logging.getLogger(__name__)

StreamKind = Literal["kinesis", "table"]
USABLE_STATUSES = frozenset({"ACTIVE", "UPDATING"})
ACTIVE_POLL_S = 0.05


class StreamCatalog:
    """Looks streams up once and caches the answer; thread-safe."""

    def __init__(
        self,
        client: KinesisClient,
        store: CheckpointStore,
        *,
        shards: int,
        ready_timeout_s: float = 300.0,
    ) -> None:
        self._client = client
        self._store = store
        self._shards = shards
        self._ready_timeout_s = ready_timeout_s
        self._lock = threading.Lock()
        self._kinds: dict[str, StreamKind] = {}
        self._layouts: dict[str, list[TablePartition]] = {}

    def kind(self, stream: str) -> StreamKind:
        """What ``stream`` is; UnknownStream if it is neither."""
        with self._lock:
            known = self._kinds.get(stream)
        if known is not None:
            return known
        found = self._look_up(stream)
        if found is None:
            raise UnknownStream(f"stream {stream!r} does not exist: create it first")
        return found

    def require_kinesis(self, stream: str) -> None:
        if self.kind(stream) == "table":
            raise StreamError(
                f"{stream!r} is a table stream (compacted): read it with read_partition"
            )

    def layout(self, stream: str) -> list[TablePartition]:
        """The partitions of table stream ``stream``."""
        if self.kind(stream) != "table":
            raise StreamError(f"{stream!r} is a Kinesis stream, not a table stream")
        with self._lock:
            return self._layouts[stream]

    def ensure(self, streams: Iterable[str], *, compacted: bool) -> None:
        """Create what is missing: table streams if ``compacted``, else Kinesis streams.

        Kinesis streams get ``shards`` shards; existing streams are left as they are, but a name
        may not switch between Kinesis and table stream.
        """
        names = list(dict.fromkeys(streams))
        wanted: StreamKind = "table" if compacted else "kinesis"
        for stream in names:
            existing = self._look_up(stream)
            if existing is not None and existing != wanted:
                raise ConfigError(
                    f"stream {stream!r} already exists as a {existing} stream; "
                    f"it cannot be used as a {wanted} stream"
                )
            if existing is None and compacted:
                self._store.create_table_stream(stream, uniform_layout(self._shards))
                self._look_up(stream)
            elif existing is None:
                self._create(stream)
        for stream in names if not compacted else ():
            self._wait_usable(stream)

    def names(self) -> list[str]:
        """Every Kinesis stream and table stream, sorted."""
        names: set[str] = set(self._store.table_streams())
        kwargs: dict[str, Any] = {"Limit": 100}
        while True:
            page = self._call("list streams", self._client.list_streams, **kwargs)
            names.update(page["StreamNames"])
            if not page.get("HasMoreStreams") or not page["StreamNames"]:
                return sorted(names)
            kwargs["ExclusiveStartStreamName"] = page["StreamNames"][-1]

    def _look_up(self, stream: str) -> StreamKind | None:
        layout = self._store.table_layout(stream)
        if layout is not None:
            with self._lock:
                self._kinds[stream] = "table"
                self._layouts[stream] = layout
            return "table"
        if self._status(stream) is None:
            return None
        with self._lock:
            self._kinds[stream] = "kinesis"
        return "kinesis"

    def _status(self, stream: str) -> str | None:
        try:
            summary = self._client.describe_stream_summary(StreamName=stream)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise StreamError(f"cannot describe Kinesis stream {stream!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise StreamError(f"cannot describe Kinesis stream {stream!r}: {exc}") from exc
        return str(summary["StreamDescriptionSummary"]["StreamStatus"])

    def _create(self, stream: str) -> None:
        try:
            self._client.create_stream(StreamName=stream, ShardCount=self._shards)
            log.info("created Kinesis stream %s with %d shards", stream, self._shards)
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":  # created meanwhile by another
                raise StreamError(f"cannot create Kinesis stream {stream!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise StreamError(f"cannot create Kinesis stream {stream!r}: {exc}") from exc

    def _wait_usable(self, stream: str) -> None:
        deadline = time.monotonic() + self._ready_timeout_s
        while True:
            status = self._status(stream)
            if status in USABLE_STATUSES:
                with self._lock:
                    self._kinds[stream] = "kinesis"
                return
            if time.monotonic() > deadline:
                raise StreamError(
                    f"Kinesis stream {stream!r} is {status or 'missing'} after "
                    f"{self._ready_timeout_s:.0f} s, not ACTIVE"
                )
            time.sleep(ACTIVE_POLL_S)

    @staticmethod
    def _call(action: str, call: Any, **kwargs: Any) -> Any:
        try:
            return call(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise StreamError(f"cannot {action}: {exc}") from exc
