"""The local event source mapping: polls every shard of a stream and invokes a handler in-process.

Shards are served round-robin by one thread, one invocation at a time (AWS runs shards in
parallel; the per-shard order, batching and retry rules are the same). Parents are read to their
end before their children start, as after a reshard on AWS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from streamjury.errors import StreamError, UnknownStream
from streamjury.esm.checkpoints import SHARD_END, Checkpoints, MemoryCheckpoints
from streamjury.esm.config import MappingSettings
from streamjury.esm.destinations import FailureDestination, LogOnlyDestination
from streamjury.esm.event import ShardRecord, StreamIdentity
from streamjury.esm.invoker import (
    MAX_SYNC_PAYLOAD_BYTES,
    BatchInvoker,
    Handler,
    InvokerConfig,
)
from streamjury.esm.shards import ShardPoller, start_position
from streamjury.ops.metrics import Metrics, NullMetrics
from streamjury.streams.kinesis.shards import list_shards

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

log = logging.getLogger(__name__)

DEFAULT_FUNCTION_NAME = "streamjury-local"


@dataclass(frozen=True)
class RunnerOptions:
    """How the runner paces itself; the mapping's own settings are in ``MappingSettings``."""

    function_name: str = DEFAULT_FUNCTION_NAME
    function_timeout_s: float = 60.0
    poll_interval_s: float = 0.25
    """Pause between rounds in which no shard had anything to do."""
    shard_refresh_s: float = 10.0
    """How often the shard list is re-read, to find children after a reshard."""
    retry_backoff_s: float = 1.0
    max_payload_bytes: int = MAX_SYNC_PAYLOAD_BYTES
    """AWS's synchronous invocation cap; lower only to exercise it in tests."""


@dataclass
class _Shard:
    poller: ShardPoller
    buffer: list[ShardRecord] = field(default_factory=list)
    gathering_since: float | None = None


@dataclass
class RunStats:
    """What a run did, for the CLI's summary line."""

    invocations: int = 0
    records: int = 0
    discarded: int = 0
    payload_splits: int = 0
    """Batches cut short so that no invocation exceeded the 6 MB payload cap."""
    timeouts: int = 0
    """Invocations that overran the function timeout (counted as function errors)."""
    started: float = field(default_factory=time.monotonic)

    def describe(self) -> str:
        return (
            f"{self.invocations} invocations, {self.records} records settled, "
            f"{self.discarded} discarded, {self.payload_splits} batches split for the 6 MB "
            f"payload cap, {self.timeouts} timeouts"
        )


class EventSourceMappingRunner:
    """Reads ``stream_name`` and feeds its batches to ``handler`` under ``settings``' rules.

    ``metrics`` counts settled batches and each shard's MillisBehindLatest; ``on_assignment``
    hears after every round whether any shard is being read (the runner's readiness).
    """

    def __init__(
        self,
        handler: Handler,
        client: KinesisClient,
        stream_name: str,
        settings: MappingSettings,
        *,
        destination: FailureDestination | None = None,
        checkpoints: Checkpoints | None = None,
        options: RunnerOptions | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], object] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
        on_assignment: Callable[[bool], None] | None = None,
    ) -> None:
        self.client = client
        self.stream_name = stream_name
        self.settings = settings
        self.options = options or RunnerOptions()
        self.checkpoints: Checkpoints = checkpoints or MemoryCheckpoints()
        self._sleep = sleep
        self._monotonic = monotonic
        self._metrics = metrics or NullMetrics()
        self._on_assignment = on_assignment
        self._context = {"service": "lambda", "stream": stream_name}
        origin = self._identify_stream()
        account = origin.stream_arn.split(":")[4]
        function_arn = (
            f"arn:aws:lambda:{origin.region}:{account}:function:{self.options.function_name}"
        )
        self.invoker = BatchInvoker(
            handler,
            settings,
            destination or LogOnlyDestination(),
            InvokerConfig(
                function_name=self.options.function_name,
                function_arn=function_arn,
                origin=origin,
                timeout_s=self.options.function_timeout_s,
                retry_backoff_s=self.options.retry_backoff_s,
                max_payload_bytes=self.options.max_payload_bytes,
            ),
            clock=clock,
            sleep=sleep,
        )
        self.stats = RunStats()
        self._shards: dict[str, _Shard] = {}
        self._finished: set[str] = set()
        self._first_listing = True
        self._listed_at = -float("inf")

    @property
    def stream_arn(self) -> str:
        return self.invoker.config.origin.stream_arn

    def run(self, stop_requested: Callable[[], bool], *, until_idle: bool = False) -> RunStats:
        """Poll and invoke until ``stop_requested()`` (checked between invocations).

        ``until_idle`` also stops once every shard is read to its tip and every batch settled:
        how tests and ``--until-idle`` replay a finite stream.
        """
        log.info(
            "mapping %s -> %s: %s",
            self.stream_arn,
            self.options.function_name,
            self.settings,
            extra=self._context,
        )
        while not stop_requested():
            if self._monotonic() - self._listed_at >= self.options.shard_refresh_s:
                self._refresh_shards()
            busy = False
            for shard_id in sorted(self._shards):
                if stop_requested():
                    break
                busy |= self._serve(shard_id, stop_requested)
            self._report()
            if until_idle and not busy and self._idle():
                break
            if not busy:
                self._sleep(self.options.poll_interval_s)
        return self.stats

    def _serve(self, shard_id: str, stop_requested: Callable[[], bool]) -> bool:
        """One turn of one shard: read once, invoke if a batch is ready. True if it did work."""
        shard = self._shards[shard_id]
        busy = False
        room = self.settings.batch_size - len(shard.buffer)
        if room > 0 and not shard.poller.closed:
            records = shard.poller.poll(room)
            busy = shard.poller.behind
            if records:
                busy = True
                shard.buffer.extend(records)
                if shard.gathering_since is None:
                    shard.gathering_since = self._monotonic()
        if self._batch_ready(shard):
            batch = shard.buffer[: self.settings.batch_size]
            shard.buffer = shard.buffer[self.settings.batch_size :]
            shard.gathering_since = self._monotonic() if shard.buffer else None
            settled = self.invoker.settle(batch, self._checkpoint, stop_requested)
            self.stats.invocations = self.invoker.calls
            self.stats.discarded = self.invoker.discarded_records
            self.stats.payload_splits = self.invoker.payload_splits
            self.stats.timeouts = self.invoker.timeouts
            if not settled:
                return True  # stopping: the rest is read again next run, from the checkpoint
            self.stats.records += len(batch)
            self._metrics.observe_batch(records=len(batch))
            busy = True
        if shard.poller.closed and not shard.buffer:
            self.checkpoints.set(shard_id, SHARD_END)
            self._finished.add(shard_id)
            del self._shards[shard_id]
            log.info(
                "shard %s is closed and fully processed",
                shard_id,
                extra={**self._context, "partition": shard_id},
            )
            self._listed_at = -float("inf")  # look for its children now
            busy = True
        return busy

    def _report(self) -> None:
        """Once a round: the shards being read (readiness) and how far behind each one is."""
        if self._on_assignment is not None:
            self._on_assignment(bool(self._shards))
        self._metrics.set_lag_seconds(
            self.stream_name,
            {
                shard_id: shard.poller.millis_behind_latest / 1000
                for shard_id, shard in self._shards.items()
                if shard.poller.millis_behind_latest is not None
            },
        )

    def _batch_ready(self, shard: _Shard) -> bool:
        if not shard.buffer:
            return False
        if len(shard.buffer) >= self.settings.batch_size or shard.poller.closed:
            return True
        assert shard.gathering_since is not None
        waited = self._monotonic() - shard.gathering_since
        return waited >= self.settings.batching_window_s

    def _idle(self) -> bool:
        return all(
            not s.buffer and (s.poller.at_tip or s.poller.closed) for s in self._shards.values()
        )

    def _checkpoint(self, record: ShardRecord) -> None:
        self.checkpoints.set(record.shard_id, record.sequence_number)

    def _identify_stream(self) -> StreamIdentity:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            summary = self.client.describe_stream_summary(StreamName=self.stream_name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise UnknownStream(f"no Kinesis stream named {self.stream_name!r}") from exc
            raise StreamError(f"cannot describe stream {self.stream_name}: {exc}") from exc
        except BotoCoreError as exc:
            raise StreamError(f"cannot reach Kinesis: {exc}") from exc
        arn = summary["StreamDescriptionSummary"]["StreamARN"]
        region = arn.split(":")[3] or self.client.meta.region_name
        role = f"arn:aws:iam::{arn.split(':')[4]}:role/{self.options.function_name}"
        return StreamIdentity(stream_arn=arn, region=region, invoke_identity_arn=role)

    def _refresh_shards(self) -> None:
        """Start pollers for shards that may be read now: no parent left unfinished."""
        listing = list_shards(self.client, self.stream_name)
        first, self._first_listing = self._first_listing, False
        self._listed_at = self._monotonic()
        known = {shard.shard_id for shard in listing}
        for shard in listing:
            if shard.shard_id in self._shards or shard.shard_id in self._finished:
                continue
            checkpoint = self.checkpoints.get(shard.shard_id)
            if checkpoint == SHARD_END or (
                first and shard.closed and self.settings.starting_position == "LATEST"
            ):
                self._finished.add(shard.shard_id)
                continue
            if any(p in known and p not in self._finished for p in shard.parents):
                continue  # its parents' records come first
            # a child born while we run is read whole
            kind = self.settings.starting_position if first else "TRIM_HORIZON"
            start = start_position(self.client, self.stream_name, shard, kind, checkpoint)
            log.info(
                "reading shard %s from %s",
                shard.shard_id,
                start,
                extra={**self._context, "partition": shard.shard_id},
            )
            self._shards[shard.shard_id] = _Shard(
                ShardPoller(self.client, self.stream_name, shard, start, monotonic=self._monotonic)
            )
