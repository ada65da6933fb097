"""The Kafka version is named once (KAFKA_VERSION); every other mention must agree with it.

The pom's default, the compose image tag and the docs that name the broker version.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from streamjury.devservers.kafka import KAFKA_VERSION, POM_PATH

REPO = Path(__file__).resolve().parents[3]
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def test_the_poms_default_kafka_version_is_kafka_version() -> None:
    version = ET.parse(POM_PATH).getroot().find("m:properties/m:kafka.version", POM_NS)
    assert version is not None
    assert version.text == KAFKA_VERSION


@pytest.mark.parametrize("relative", ["README.md", "docs/operations.md", "docker-compose.yml"])
def test_every_kafka_version_named_in_the_docs_and_compose_is_kafka_version(relative: str) -> None:
    text = (REPO / relative).read_text()
    named = set(re.findall(r"(?:Apache Kafka |apache/kafka:)(\d+\.\d+\.\d+)", text))
    named |= set(re.findall(r"(\d+\.\d+\.\d+) broker", text))
    assert named == {KAFKA_VERSION}
