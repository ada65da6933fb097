"""A fault-injecting HTTP proxy in front of kinesis-local: Kinesis's throttling and failed
PutRecords entries, answered to the services' real clients, so the product's own retry code
(botocore's standard retries, ``RecordPutter``, the consumer's shard back-off) runs against a
real Kinesis API.

Faults are honest to what Kinesis does: a refused call writes nothing; a failed PutRecords entry
is withheld from kinesis-local (never written) and reported with an ``ErrorCode``, its siblings
are written and answered with their real sequence numbers. Everything else passes through.
"""

from __future__ import annotations

import http.client
import json
import random
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlparse

TARGET = "X-Amz-Target"
PUT_RECORDS = "Kinesis_20131202.PutRecords"
GET_RECORDS = "Kinesis_20131202.GetRecords"
THROTTLED = "ProvisionedThroughputExceededException"
HOP_BY_HOP = frozenset({"host", "content-length", "connection", "keep-alive"})


@dataclass(frozen=True)
class FaultRates:
    """How often each fault is injected (probabilities per call or per entry)."""

    put_refused: float = 0.05
    """A whole PutRecords call answered 400 ProvisionedThroughputExceededException."""
    put_partial: float = 0.2
    """A PutRecords call in which some entries fail."""
    entry_failed: float = 0.3
    """In such a call, each entry's chance to fail."""
    get_throttled: float = 0.05
    """A GetRecords call answered 400 ProvisionedThroughputExceededException."""
    first_storm_s: tuple[float, float] = (5.0, 15.0)
    """Seconds from the start to the first storm: early, so that even a short run meets one
    (a first storm drawn later than a quick run lasted once left a run without any)."""
    storm_every_s: tuple[float, float] | None = (20.0, 60.0)
    """Seconds from the end of the last storm to the next throttling storm, in which every
    GetRecords and PutRecords is refused for ``storm_s`` seconds: longer than botocore's own
    retries (5 attempts, ~7 s of jittered back-off on average), so the product's retries and
    back-off are reached too. None: no storms."""
    storm_s: tuple[float, float] = (6.0, 10.0)
    sure_by_call: int = 5
    """The call of each kind (PutRecords, GetRecords, PutRecords with entries) by which its
    fault has surely been injected: drawn for it if chance has not yet. Few calls pass the
    proxy in a short run (services write in batches): at 5% a call, 1 of 7 local process-fault
    runs on kinesis-local (2026-12-05) met no refused PutRecords at all."""


class FaultPlan:
    """Seeded, thread-safe draws of which call or entry fails, and counts of what was injected."""

    def __init__(self, rates: FaultRates, seed: int, clock: Any) -> None:
        self.rates = rates
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._clock = clock
        self._storm_until = 0.0
        self._next_storm = (
            clock() + self._rng.uniform(*rates.first_storm_s) if rates.storm_every_s else None
        )
        self.injected: Counter[str] = Counter()
        self._calls: Counter[str] = Counter()

    def refuse(self, target: str) -> bool:
        """Whether to refuse this call whole (throttled), storms included."""
        rate = self.rates.put_refused if target == PUT_RECORDS else self.rates.get_throttled
        with self._lock:
            now = self._clock()
            if self._next_storm is not None and now >= self._next_storm:
                self._storm_until = now + self._rng.uniform(*self.rates.storm_s)
                every = self.rates.storm_every_s or (0.0, 0.0)
                self._next_storm = self._storm_until + self._rng.uniform(*every)
                self.injected["storms"] += 1
            kind = f"{target.split('.')[-1]} refused"
            self._calls[kind] += 1
            refused = now < self._storm_until or self._rng.random() < rate
            refused = refused or self._due(kind)
            if refused:
                self.injected[kind] += 1
            return refused

    def failing_entries(self, count: int) -> list[int]:
        """Indices of the entries of a PutRecords call to fail (none for most calls)."""
        with self._lock:
            kind = "PutRecords partially failed"
            if count == 0:
                return []
            self._calls[kind] += 1
            if self._due(kind):
                failing = [self._rng.randrange(count)]
            elif self._rng.random() >= self.rates.put_partial:
                return []
            else:
                failing = [i for i in range(count) if self._rng.random() < self.rates.entry_failed]
            if not failing:
                return []
            self.injected["PutRecords partially failed"] += 1
            self.injected["PutRecords entries failed"] += len(failing)
            return failing

    def _due(self, kind: str) -> bool:
        """Whether this call must inject ``kind``: none yet, and its ``sure_by_call``-th call."""
        return self.injected[kind] == 0 and self._calls[kind] == self.rates.sure_by_call


class KinesisFaultProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to ``upstream``, injecting ``plan``'s faults."""

    def __init__(self, upstream: str, plan: FaultPlan) -> None:
        self.plan = plan
        parsed = urlparse(upstream)
        self._upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> KinesisFaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        return Handler

    def forward(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """One request to kinesis-local: status, headers, body (a connection per request keeps
        the proxy simple; kinesis-local is on the same host)."""
        connection = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client SIGKILLed mid-call is what the run is about: not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: KinesisFaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tens of thousands of calls."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        target = self.headers.get(TARGET, "")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        plan = self.owner.plan
        if target in (PUT_RECORDS, GET_RECORDS) and plan.refuse(target):
            self._answer(400, _error(THROTTLED, "Rate exceeded (injected)"))
            return
        if target == PUT_RECORDS:
            request = json.loads(body)
            failing = plan.failing_entries(len(request["Records"]))
            if failing:
                self._answer(*self._put_some(headers, request, failing))
                return
        status, answer_headers, answer = self.owner.forward(headers, body)
        self._answer(status, answer, answer_headers.get("Content-Type"))

    def _put_some(
        self, headers: dict[str, str], request: dict[str, Any], failing: list[int]
    ) -> tuple[int, bytes]:
        """Write every entry but ``failing``; answer as Kinesis does for a partial failure."""
        records = request["Records"]
        withheld = set(failing)
        kept = [r for i, r in enumerate(records) if i not in withheld]
        status, _, answer = self.owner.forward(
            headers, json.dumps({**request, "Records": kept}).encode()
        )
        if status != 200:  # kinesis-local refused the call: pass that on, nothing was written
            return status, answer
        result = json.loads(answer)
        written = iter(result["Records"])
        entries = [
            {
                "ErrorCode": THROTTLED if index % 4 else "InternalFailure",
                "ErrorMessage": "injected by the test proxy",
            }
            if index in withheld
            else next(written)
            for index in range(len(records))
        ]
        failed = len(withheld) + int(result.get("FailedRecordCount", 0))
        return 200, json.dumps({**result, "FailedRecordCount": failed, "Records": entries}).encode()

    def _answer(self, status: int, body: bytes, content_type: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _error(code: str, message: str) -> bytes:
    return json.dumps({"__type": code, "message": message}).encode()
