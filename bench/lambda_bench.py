"""The Lambda consumer: handler time per Kinesis batch (dry run), cold start, artifact size.

Beside it, the seed's style: the same work done record by record, one predict per record.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consumers.batch import process_batch
from consumers.check import CheckModel, CheckSpec
from consumers.lambda_events import KinesisEvent
from consumers.lambda_handler import LambdaAdapter
from streamjury.deploy.artifact import build_zip
from streamjury.streams.base import OutRecord

COLD_START_SCRIPT = """
import json, sys, time
started = time.perf_counter()
from consumers.lambda_handler import handler
imported = time.perf_counter()
handler(json.loads(sys.stdin.read()), None)
done = time.perf_counter()
print(json.dumps({"imports_s": imported - started, "first_batch_s": done - imported,
                  "cpu_s": time.process_time()}))
"""


@dataclass(frozen=True, slots=True)
class LambdaFigures:
    batch_ms: float
    """Median handler time for one batch of ``records`` (dry run: nothing published)."""
    batch_ms_spread: tuple[float, float]
    per_record_ms: float
    """The same batch handled record by record, as the seed handler did."""
    per_record_ms_spread: tuple[float, float]
    cold_start_s: float
    """Fresh interpreter: imports, model load and the first batch."""
    cold_imports_s: float
    cold_start_cpu_s: float
    """CPU time of that interpreter from its start: steadier than wall time on a busy machine."""
    batch_cpu_ms: float
    per_record_cpu_ms: float
    artifact_zipped_mb: float
    artifact_unzipped_mb: float
    records: int


def kinesis_event(payloads: Sequence[OutRecord], stream: str = "rides") -> dict[str, Any]:
    """A Kinesis event as Lambda delivers it (base64 data, sequence numbers, source ARN)."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": payload.key,
                    "sequenceNumber": f"{49590338271490256608559692538361571095921575989136588898 + i}",
                    "data": base64.b64encode(payload.value).decode(),
                    "approximateArrivalTimestamp": 1717416000.0 + i / 1000,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{i}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/bench",
                "awsRegion": "us-east-1",
                "eventSourceARN": f"arn:aws:kinesis:us-east-1:123456789012:stream/{stream}",
            }
            for i, payload in enumerate(payloads)
        ]
    }


def seed_style_handler(spec: CheckSpec, model: CheckModel, event: Mapping[str, Any]) -> int:
    """One record at a time: decode, validate, predict one row, build one verdict."""
    verdicts = 0
    for item in KinesisEvent.model_validate(event).Records:
        record = item.to_record()
        result = process_batch(spec, model, [record], stage=f"lambda:{spec.name}")
        verdicts += len(result.verdicts)
    return verdicts


def _timed_ms(call: Any) -> tuple[float, float]:
    """(wall ms, CPU ms) of one call."""
    started, cpu = time.perf_counter(), time.process_time()
    call()
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000


def measure_lambda(
    spec: CheckSpec,
    model: CheckModel,
    payloads: Sequence[OutRecord],
    models_dir: Path,
    *,
    repeat: int = 20,
    python: str = sys.executable,
) -> LambdaFigures:
    event = kinesis_event(payloads, spec.stream)
    adapter = LambdaAdapter(spec, model, None, stage=f"lambda:{spec.name}")
    adapter.handle(event)  # warm: first-call caches, as a warm Lambda has them
    seed_style_handler(spec, model, event)
    batched: list[tuple[float, float]] = []
    per_record: list[tuple[float, float]] = []
    for _ in range(repeat):  # taking turns, so a busy spell slows both
        batched.append(_timed_ms(lambda: adapter.handle(event)))
        per_record.append(_timed_ms(lambda: seed_style_handler(spec, model, event)))
    batched_wall, batched_cpu = [b[0] for b in batched], [b[1] for b in batched]
    record_wall, record_cpu = [r[0] for r in per_record], [r[1] for r in per_record]
    cold = cold_start(spec.name, event, models_dir, python)
    with tempfile.TemporaryDirectory() as out:
        package = build_zip(spec, Path(out), models=models_dir)
    return LambdaFigures(
        batch_ms=statistics.median(batched_wall),
        batch_ms_spread=(min(batched_wall), max(batched_wall)),
        per_record_ms=statistics.median(record_wall),
        per_record_ms_spread=(min(record_wall), max(record_wall)),
        cold_start_s=cold["total_s"],
        cold_imports_s=cold["imports_s"],
        cold_start_cpu_s=cold["cpu_s"],
        batch_cpu_ms=statistics.median(batched_cpu),
        per_record_cpu_ms=statistics.median(record_cpu),
        artifact_zipped_mb=len(package.content) / 2**20,
        artifact_unzipped_mb=package.unzipped_bytes / 2**20,
        records=len(payloads),
    )


def cold_start(
    check: str, event: Mapping[str, Any], models_dir: Path, python: str
) -> dict[str, float]:
    """A fresh interpreter's imports, model load and first batch (dry run), timed inside it."""
    env = {
        **os.environ,
        "STREAMJURY_CHECK": check,
        "STREAMJURY_MODELS": str(models_dir),
        "STREAMJURY_DRY_RUN": "true",
        "STREAMJURY_MODEL_CACHE": tempfile.mkdtemp(prefix="bench-cache-"),
    }
    completed = subprocess.run(
        [python, "-c", COLD_START_SCRIPT],
        input=json.dumps(event).encode(),
        capture_output=True,
        env=env,
        check=True,
        timeout=300,
    )
    figures = json.loads(completed.stdout.decode().strip().splitlines()[-1])
    figures["total_s"] = figures["imports_s"] + figures["first_batch_s"]
    return figures
