"""A poison record as large as the broker accepts is dead-lettered and its partition moves on.

Reproduces the stall of issue 11 on the real Kafka broker: a 900 KB JSON record in ``rides``
used to give a ~1.2 MB dead letter that the broker refused, so the consumer exited without
committing and every restart did the same. The dead letter now fits, its original cut.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from producers.synthetic import generate_rides
from streamjury.devservers.kafka import LocalKafkaBroker
from streamjury.schemas import DeadLetter, Verdict, utc_now
from streamjury.settings import KafkaSettings
from streamjury.streams.base import OutRecord
from streamjury.streams.kafka import KafkaBackend
from streamjury.streams.names import StreamNames
from tests.reliability.accounting import read_stream
from tests.signals import restore_default_signals

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
WAIT_S = 180.0


def test_a_900_kb_record_on_kafka_is_dead_lettered_and_the_partition_moves_on(
    kafka_broker: LocalKafkaBroker, reliability_models: Path, tmp_path: Path
) -> None:
    prefix = f"r{uuid.uuid4().hex[:8]}-"
    names = StreamNames(prefix)
    backend = KafkaBackend(KafkaSettings(bootstrap=kafka_broker.bootstrap_servers, partitions=1))
    rides = [labelled.event for labelled in generate_rides(5, 3, utc_now())]
    poison = json.dumps({**json.loads(rides[0].to_bytes()), "padding": "p" * 900_000}).encode()
    try:
        backend.ensure_streams([names.rides, names.verdicts, names.deadletter])
        producer = backend.producer()
        producer.send(names.rides, [OutRecord("poison", poison)])
        producer.send(names.rides, [OutRecord(r.event_id, r.to_bytes()) for r in rides])
        producer.flush(60)
        producer.close()
        group = f"{prefix}streamjury-duration"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STREAMJURY_")},
            "STREAMJURY_MODELS": str(reliability_models),
            "STREAMJURY_HTTP_PORT": "0",
        }
        command = [
            sys.executable,
            "-m",
            "streamjury.cli.main",
            "consume",
            "duration",
            "--backend",
            "kafka",
            "--bootstrap",
            kafka_broker.bootstrap_servers,
            "--stream-prefix",
            prefix,
        ]
        with (tmp_path / "consumer.log").open("wb") as sink:
            consumer = subprocess.Popen(
                command, env=env, stdout=sink, stderr=sink, preexec_fn=restore_default_signals
            )
        try:
            deadline = time.monotonic() + WAIT_S
            while backend.committed(names.rides, group).get("0", 0) < 4:
                log = (tmp_path / "consumer.log").read_text(errors="replace")
                assert consumer.poll() is None, f"the consumer exited:\n{log[-3000:]}"
                assert time.monotonic() < deadline, f"the partition never moved on:\n{log[-3000:]}"
                time.sleep(0.5)
            consumer.send_signal(signal.SIGTERM)
            assert consumer.wait(120) == 0
        finally:
            if consumer.poll() is None:
                consumer.kill()
                consumer.wait()
        letters = [
            DeadLetter.model_validate_json(r.value) for r in read_stream(backend, names.deadletter)
        ]
        verdicts = [
            Verdict.model_validate_json(r.value) for r in read_stream(backend, names.verdicts)
        ]
    finally:
        backend.close()

    (letter,) = letters
    assert "byte limit" in letter.reason
    assert letter.original_truncated
    assert letter.original_length == len(poison)
    assert letter.original_sha256 == hashlib.sha256(poison).hexdigest()
    assert poison.startswith(letter.original)
    assert len(letter.to_bytes()) < 1_000_000
    assert sorted(v.event_id for v in verdicts) == sorted(r.event_id for r in rides)
