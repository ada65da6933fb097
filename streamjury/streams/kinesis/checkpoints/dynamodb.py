"""The checkpoint store in a DynamoDB table: for consumers of one group spread over many hosts.

Every lease change is a conditional write on the owner; state plus checkpoints use transactions.

One table (created on demand, on-demand billing) with a string hash key ``pk`` and range key ``sk``:

=========================== ============ =====================================================
pk                          sk           attributes
=========================== ============ =====================================================
lease|<group>|<stream>      <shard id>   owner, expires_ms, sequence, finished
member|<group>              <member id>  expires_ms
table-stream                <stream>     layout (JSON)
table-offset|<stream>       <partition>  next
table|<stream>|<partition>  <key>        value (binary), record_offset, timestamp_ms
=========================== ============ =====================================================

Stream names never contain ``|``, so keys stay unambiguous whatever the group name holds.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from streamjury.errors import ConfigError, FencedError, StreamError, UnknownStream
from streamjury.streams.base import Record
from streamjury.streams.kinesis.checkpoints.base import (
    FREE,
    Checkpoint,
    ShardLease,
    TablePartition,
    TableWrite,
    layout_from_json,
    layout_to_json,
)
from streamjury.streams.kinesis.clients import error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_BYTES = 3 * 1024 * 1024
"""DynamoDB caps a transaction at 4 MB; the rest is headroom for keys and attribute names."""
TRANSACTION_CONFLICT_ATTEMPTS = 5
TABLE_ACTIVE_TIMEOUT_S = 120.0
Item = dict[str, Any]


class DynamoCheckpointStore:
    """``CheckpointStore`` in the DynamoDB table ``table`` (created if missing)."""

    def __init__(self, client: DynamoDBClient, table: str, *, create: bool = True) -> None:
        self._client = client
        self.table = table
        self._ensure_table(create)

    # -- leases and checkpoints -------------------------------------------------------------

    def leases(self, group: str, stream: str) -> dict[str, ShardLease]:
        return {
            item["sk"]["S"]: _lease_of(stream, item)
            for item in self._query(_lease_pk(group, stream))
        }

    def acquire(
        self, group: str, stream: str, shard: str, owner: str, expires_ms: int, now_ms: int
    ) -> ShardLease | None:
        try:
            with self._errors("take a lease"):
                response = self._client.update_item(
                    TableName=self.table,
                    Key=_key(_lease_pk(group, stream), shard),
                    UpdateExpression="SET #owner = :me, #expires = :expires",
                    ConditionExpression=(
                        "attribute_not_exists(#owner) OR #owner IN (:free, :me) OR #expires <= :now"
                    ),
                    ExpressionAttributeNames={"#owner": "owner", "#expires": "expires_ms"},
                    ExpressionAttributeValues={
                        ":me": {"S": owner},
                        ":free": {"S": FREE},
                        ":expires": {"N": str(expires_ms)},
                        ":now": {"N": str(now_ms)},
                    },
                    ReturnValues="ALL_NEW",
                )
        except _ConditionFailed:
            return None
        return _lease_of(stream, response["Attributes"])

    def renew(self, group: str, stream: str, shard: str, owner: str, expires_ms: int) -> bool:
        try:
            with self._errors("renew a lease"):
                self._client.update_item(
                    TableName=self.table,
                    Key=_key(_lease_pk(group, stream), shard),
                    UpdateExpression="SET #expires = :expires",
                    ConditionExpression="#owner = :me",
                    ExpressionAttributeNames={"#owner": "owner", "#expires": "expires_ms"},
                    ExpressionAttributeValues={
                        ":me": {"S": owner},
                        ":expires": {"N": str(expires_ms)},
                    },
                )
        except _ConditionFailed:
            return False
        return True

    def release(self, group: str, stream: str, shard: str, owner: str) -> None:
        try:
            with self._errors("release a lease"):
                self._client.update_item(
                    TableName=self.table,
                    Key=_key(_lease_pk(group, stream), shard),
                    UpdateExpression="SET #owner = :free, #expires = :zero",
                    ConditionExpression="#owner = :me",
                    ExpressionAttributeNames={"#owner": "owner", "#expires": "expires_ms"},
                    ExpressionAttributeValues={
                        ":me": {"S": owner},
                        ":free": {"S": FREE},
                        ":zero": {"N": "0"},
                    },
                )
        except _ConditionFailed:
            log.debug(
                "group %s: lease of %s/%s was no longer ours to release", group, stream, shard
            )

    def commit(
        self,
        group: str,
        owner: str,
        checkpoints: Sequence[Checkpoint],
        *,
        state: Sequence[TableWrite] = (),
        fenced_by: Sequence[tuple[str, str]] = (),
    ) -> None:
        """State first, in transactions that each re-check every lease; checkpoints last.

        A FencedError after the first transaction leaves some state written; it was written
        while this member still held every lease, so the next owner, which restores state
        only after taking the lease, sees it.
        """
        concerned = sorted({(cp.stream, cp.shard) for cp in checkpoints} | set(fenced_by))
        if len(concerned) >= MAX_TRANSACTION_ITEMS:
            raise StreamError(
                f"a commit concerns {len(concerned)} leases; a DynamoDB transaction takes at "
                f"most {MAX_TRANSACTION_ITEMS} items"
            )
        checkpointed = {(cp.stream, cp.shard) for cp in checkpoints}
        guards = [self._lease_check(group, stream, shard, owner) for stream, shard in concerned]
        final = [self._checkpoint_update(group, cp, owner) for cp in checkpoints] + [
            self._lease_check(group, stream, shard, owner)
            for stream, shard in concerned
            if (stream, shard) not in checkpointed
        ]
        *chunks, last = _chunks(self._state_actions(state), MAX_TRANSACTION_ITEMS - len(concerned))
        for chunk in chunks:
            self._transact([*guards, *chunk])
        if final or last:
            self._transact([*final, *last])

    # -- group members ----------------------------------------------------------------------

    def heartbeat(self, group: str, member: str, expires_ms: int) -> None:
        with self._errors("record a heartbeat"):
            self._client.put_item(
                TableName=self.table,
                Item={**_key(_member_pk(group), member), "expires_ms": {"N": str(expires_ms)}},
            )

    def members(self, group: str, now_ms: int) -> list[str]:
        live: list[str] = []
        for item in self._query(_member_pk(group)):
            member = item["sk"]["S"]
            if int(item["expires_ms"]["N"]) > now_ms:
                live.append(member)
                continue
            try:  # tidy up after members that died; a racing heartbeat wins
                with self._errors("remove an expired member"):
                    self._client.delete_item(
                        TableName=self.table,
                        Key=_key(_member_pk(group), member),
                        ConditionExpression="#expires <= :now",
                        ExpressionAttributeNames={"#expires": "expires_ms"},
                        ExpressionAttributeValues={":now": {"N": str(now_ms)}},
                    )
            except _ConditionFailed:
                live.append(member)
        return sorted(live)

    def leave(self, group: str, member: str) -> None:
        with self._errors("leave a group"):
            self._client.delete_item(TableName=self.table, Key=_key(_member_pk(group), member))

    # -- table streams ----------------------------------------------------------------------

    def create_table_stream(self, stream: str, layout: Sequence[TablePartition]) -> None:
        try:
            with self._errors("create a table stream"):
                self._client.put_item(
                    TableName=self.table,
                    Item={**_key("table-stream", stream), "layout": {"S": layout_to_json(layout)}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except _ConditionFailed:
            log.debug("table stream %s already exists", stream)

    def table_layout(self, stream: str) -> list[TablePartition] | None:
        with self._errors("describe a table stream"):
            item = self._client.get_item(
                TableName=self.table, Key=_key("table-stream", stream), ConsistentRead=True
            ).get("Item")
        return None if item is None else layout_from_json(item["layout"]["S"])

    def table_streams(self) -> list[str]:
        return sorted(item["sk"]["S"] for item in self._query("table-stream"))

    def write_table(self, state: Sequence[TableWrite]) -> None:
        for chunk in _chunks(self._state_actions(state), MAX_TRANSACTION_ITEMS):
            if chunk:
                self._transact(chunk)

    def read_table(self, stream: str, partition: str, start_offset: int = 0) -> list[Record]:
        self._partitions(stream, partition)
        records = [
            Record(
                stream,
                partition,
                int(item["record_offset"]["N"]),
                item["sk"]["S"],
                bytes(item["value"]["B"]),
                int(item["timestamp_ms"]["N"]),
            )
            for item in self._query(_row_pk(stream, partition))
        ]
        return sorted((r for r in records if r.offset >= start_offset), key=lambda r: r.offset)

    def table_end_offsets(self, stream: str) -> dict[str, int]:
        names = self._partitions(stream)
        counters = {
            item["sk"]["S"]: int(item["next"]["N"]) for item in self._query(_offset_pk(stream))
        }
        return {name: counters.get(name, 0) for name in names}

    def close(self) -> None:
        """Nothing to release: boto3 clients need no closing."""

    # -- internals --------------------------------------------------------------------------

    def _ensure_table(self, create: bool) -> None:
        try:
            with self._errors("describe the checkpoint table"):
                table = self._client.describe_table(TableName=self.table)["Table"]
        except _NotFound:
            if not create:
                raise ConfigError(f"DynamoDB table {self.table!r} does not exist") from None
            self._create_table()
            return
        keys = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}
        if keys != {"pk": "HASH", "sk": "RANGE"}:
            raise ConfigError(
                f"DynamoDB table {self.table!r} has keys {keys}; the checkpoint store needs a "
                "string hash key 'pk' and a string range key 'sk': use another table name"
            )
        if table["TableStatus"] != "ACTIVE":
            self._wait_active()

    def _create_table(self) -> None:
        log.info("creating the DynamoDB checkpoint table %s", self.table)
        try:
            with self._errors("create the checkpoint table"):
                self._client.create_table(
                    TableName=self.table,
                    KeySchema=[
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    AttributeDefinitions=[
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                    ],
                    BillingMode="PAY_PER_REQUEST",
                )
        except _InUse:
            log.debug("another process is creating the checkpoint table %s", self.table)
        self._wait_active()

    def _wait_active(self) -> None:
        deadline = time.monotonic() + TABLE_ACTIVE_TIMEOUT_S
        while time.monotonic() < deadline:
            with self._errors("describe the checkpoint table"):
                status = self._client.describe_table(TableName=self.table)["Table"]["TableStatus"]
            if status == "ACTIVE":
                return
            time.sleep(0.2)
        raise StreamError(f"DynamoDB table {self.table!r} is not ACTIVE after 120 s")

    def _partitions(self, stream: str, partition: str | None = None) -> list[str]:
        layout = self.table_layout(stream)
        if layout is None:
            raise UnknownStream(f"table stream {stream!r} does not exist: create it first")
        names = [p.name for p in layout]
        if partition is not None and partition not in names:
            raise StreamError(f"table stream {stream!r} has no partition {partition!r}")
        return names

    def _query(self, pk: str) -> Iterator[Item]:
        """Every item under ``pk``, strongly consistent, following pagination."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        while True:
            with self._errors("query the checkpoint table"):
                page = self._client.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _lease_check(self, group: str, stream: str, shard: str, owner: str) -> Item:
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": _key(_lease_pk(group, stream), shard),
                "ConditionExpression": "#owner = :me",
                "ExpressionAttributeNames": {"#owner": "owner"},
                "ExpressionAttributeValues": {":me": {"S": owner}},
            }
        }

    def _checkpoint_update(self, group: str, cp: Checkpoint, owner: str) -> Item:
        sets = ["#finished = :finished"]
        names = {"#owner": "owner", "#finished": "finished"}
        values: Item = {":me": {"S": owner}, ":finished": {"BOOL": cp.finished}}
        if cp.sequence is not None:
            sets.append("#sequence = :sequence")
            names["#sequence"] = "sequence"
            values[":sequence"] = {"S": cp.sequence}
        if cp.finished:
            sets.append("#owner = :free")
            values[":free"] = {"S": FREE}
        return {
            "Update": {
                "TableName": self.table,
                "Key": _key(_lease_pk(group, cp.stream), cp.shard),
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": "#owner = :me",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _state_actions(self, state: Sequence[TableWrite]) -> list[Item]:
        """Put/Delete actions for ``state``, last write per key wins; offsets allocated now."""
        latest: dict[tuple[str, str, str], TableWrite] = {}
        for write in state:
            where = (write.stream, write.partition, write.key)
            latest.pop(where, None)  # re-insert so dict order is the order of last writes
            latest[where] = write
        upserts: Mapping[tuple[str, str], int] = _count_by_partition(latest.values())
        offsets = {part: self._allocate_offsets(*part, count) for part, count in upserts.items()}
        now_ms = str(time.time_ns() // 1_000_000)
        actions: list[Item] = []
        for write in latest.values():
            row_key = _key(_row_pk(write.stream, write.partition), write.key)
            if not write.value:
                actions.append({"Delete": {"TableName": self.table, "Key": row_key}})
                continue
            offset = next(offsets[(write.stream, write.partition)])
            item = {
                **row_key,
                "value": {"B": write.value},
                "record_offset": {"N": str(offset)},
                "timestamp_ms": {"N": now_ms},
            }
            actions.append({"Put": {"TableName": self.table, "Item": item}})
        return actions

    def _allocate_offsets(self, stream: str, partition: str, count: int) -> Iterator[int]:
        """Reserve ``count`` offsets with an atomic counter; a failed write leaves a gap."""
        with self._errors("allocate table offsets"):
            response = self._client.update_item(
                TableName=self.table,
                Key=_key(_offset_pk(stream), partition),
                UpdateExpression="ADD #next :count",
                ExpressionAttributeNames={"#next": "next"},
                ExpressionAttributeValues={":count": {"N": str(count)}},
                ReturnValues="UPDATED_NEW",
            )
        end = int(response["Attributes"]["next"]["N"])
        return iter(range(end - count, end))

    def _transact(self, actions: list[Item]) -> None:
        """Run ``actions`` as one transaction (a lone action as a plain conditional write)."""
        rng = random.Random()
        for attempt in range(1, TRANSACTION_CONFLICT_ATTEMPTS + 1):
            try:
                with self._errors("commit"):
                    if len(actions) == 1:
                        self._single(actions[0])
                    else:
                        self._client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
                return
            except _Conflict as exc:
                if attempt == TRANSACTION_CONFLICT_ATTEMPTS:
                    raise StreamError(f"checkpoint commit kept conflicting: {exc.cause}") from exc
                time.sleep(rng.uniform(0, 0.05 * 2**attempt))
            except _ConditionFailed as exc:
                raise FencedError(f"a lease was taken over: {exc.cause}") from exc.cause

    def _single(self, action: Item) -> None:
        ((kind, request),) = action.items()
        if kind == "Put":
            self._client.put_item(**request)
        elif kind == "Delete":
            self._client.delete_item(**request)
        elif kind == "Update":
            self._client.update_item(**request)
        else:  # ConditionCheck: nothing to write, only the condition to verify
            item = self._client.get_item(
                TableName=request["TableName"], Key=request["Key"], ConsistentRead=True
            ).get("Item", {})
            expected = request["ExpressionAttributeValues"][":me"]["S"]
            if item.get("owner", {}).get("S") != expected:
                raise _ConditionFailed(StreamError("the lease is held by another member"))

    def _errors(self, action: str) -> _ErrorTranslation:
        return _ErrorTranslation(self.table, action)


class _ConditionFailed(Exception):
    """A conditional write failed: the lease is not (or no longer) ours."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Conflict(Exception):
    """A transaction collided with another one on the same items: worth retrying."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _NotFound(Exception):
    pass


class _InUse(Exception):
    pass


class _ErrorTranslation:
    """Maps botocore errors: condition failures and conflicts to private types the store
    handles, everything else to StreamError naming the action."""

    def __init__(self, table: str, action: str) -> None:
        self._table = table
        self._action = action

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, _ConditionFailed | _Conflict | StreamError):
            return
        if isinstance(exc, ClientError):
            code = error_code(exc)
            if code == "ConditionalCheckFailedException":
                raise _ConditionFailed(exc) from exc
            if code == "TransactionCanceledException":
                reasons = [r.get("Code", "") for r in exc.response.get("CancellationReasons", [])]
                if "ConditionalCheckFailed" in reasons:
                    raise _ConditionFailed(exc) from exc
                if "TransactionConflict" in reasons:
                    raise _Conflict(exc) from exc
            if code == "TransactionConflictException":
                raise _Conflict(exc) from exc
            if code == "ResourceNotFoundException":
                raise _NotFound() from exc
            if code == "ResourceInUseException":
                raise _InUse() from exc
        if isinstance(exc, ClientError | BotoCoreError):
            raise StreamError(
                f"DynamoDB checkpoint table {self._table!r}: cannot {self._action}: {exc}"
            ) from exc


def _key(pk: str, sk: str) -> Item:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _lease_pk(group: str, stream: str) -> str:
    return f"lease|{group}|{stream}"


def _member_pk(group: str) -> str:
    return f"member|{group}"


def _offset_pk(stream: str) -> str:
    return f"table-offset|{stream}"


def _row_pk(stream: str, partition: str) -> str:
    return f"table|{stream}|{partition}"


def _lease_of(stream: str, item: Item) -> ShardLease:
    return ShardLease(
        stream=stream,
        shard=item["sk"]["S"],
        owner=item.get("owner", {}).get("S", FREE),
        expires_ms=int(item.get("expires_ms", {}).get("N", "0")),
        sequence=item.get("sequence", {}).get("S"),
        finished=bool(item.get("finished", {}).get("BOOL", False)),
    )


def _chunks(actions: list[Item], max_items: int) -> list[list[Item]]:
    """``actions`` in order, cut into runs of at most ``max_items`` items and about
    MAX_TRANSACTION_BYTES bytes of values; always at least one (possibly empty) run."""
    chunks: list[list[Item]] = [[]]
    size = 0
    for action in actions:
        item = action.get("Put", {}).get("Item", {})
        weight = len(item.get("value", {}).get("B", b"")) + 200
        if chunks[-1] and (len(chunks[-1]) == max_items or size + weight > MAX_TRANSACTION_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append(action)
        size += weight
    return chunks


def _count_by_partition(writes: Iterable[TableWrite]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for write in writes:
        if write.value:
            counts[(write.stream, write.partition)] += 1
    return dict(counts)
