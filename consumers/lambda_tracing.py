"""X-Ray subsegments around a Lambda invocation's decode, predict and write steps (Powertools Tracer).

Off unless the function's settings turn it on (template.yaml and ``deploy`` do, with active
tracing), so local runs and tests need no X-Ray daemon. What is sent is redacted like every log
line: a segment records an escaping exception's message and the SDK calls' parameters (an SQS
queue URL), either of which may quote a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

from streamjury.redaction import redact

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

log = logging.getLogger(__name__)

Annotation = str | int | float | bool
DECODE = "decode"
PREDICT = "predict"
WRITE = "write"
SUBSEGMENTS = (DECODE, PREDICT, WRITE)


class Tracing(Protocol):
    """Opens a named, annotated subsegment of the current trace (or does nothing)."""

    enabled: bool

    def subsegment(
        self, name: str, annotations: Mapping[str, Annotation]
    ) -> AbstractContextManager[Any]: ...


class NoTracing:
    """Tracing switched off: every subsegment is a no-op."""

    enabled = False

    def subsegment(
        self, name: str, annotations: Mapping[str, Annotation]
    ) -> AbstractContextManager[Any]:
        return nullcontext()


class XRayTracing:
    """Subsegments through Powertools' Tracer; annotations are indexed, so X-Ray can filter
    traces by check, model version or shard."""

    enabled = True

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    @contextmanager
    def subsegment(self, name: str, annotations: Mapping[str, Annotation]) -> Iterator[Any]:
        with self._tracer.provider.in_subsegment(f"## {name}") as subsegment:
            for key, value in annotations.items():
                annotation: Any = value  # the SDK types numbers as numbers.Number
                subsegment.put_annotation(key, annotation)
            yield subsegment


class RedactingEmitter:
    """Wraps the recorder's emitter: each trace entity it sends is serialized redacted."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def send_entity(self, entity: Any) -> None:
        self.inner.send_entity(_RedactedEntity(entity))

    def __getattr__(self, name: str) -> Any:  # set_daemon_address, ip, port...
        return getattr(self.inner, name)


class _RedactedEntity:
    def __init__(self, entity: Any) -> None:
        self._entity = entity

    def serialize(self) -> str:
        return redact(str(self._entity.serialize()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._entity, name)


def build_tracing(enabled: bool, service: str, *, provider: Any = None) -> Tracing:
    """X-Ray tracing when ``enabled`` (AWS SDK calls are traced too), else NoTracing.

    ``provider`` replaces the global X-Ray recorder (tests pass one with a capturing emitter).
    """
    if not enabled:
        return NoTracing()
    from aws_lambda_powertools import Tracer

    tracer = Tracer(
        service=service,
        disabled=False,
        auto_patch=provider is None,
        patch_modules=("botocore",),
        provider=provider,
    )
    recorder: Any = tracer.provider  # the X-Ray SDK's recorder, typed as Powertools' base
    if not isinstance(recorder.emitter, RedactingEmitter):
        recorder.emitter = RedactingEmitter(recorder.emitter)
    log.info("X-Ray tracing is on for service %s", service)
    return XRayTracing(tracer)
