"""librdkafka's retry storms are folded: the first line says why, a count replaces the copies."""

from __future__ import annotations

import logging

from streamjury.streams.kafka.client_logs import RepeatFilter


def record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("librdkafka", level, __file__, 1, message, None, None)


def passed(messages: list[tuple[int, str]]) -> list[str]:
    repeat = RepeatFilter()
    kept = [record(text, level) for level, text in messages]
    return [r.getMessage() for r in kept if repeat.filter(r)]


def test_lines_that_differ_only_in_numbers_are_folded_into_a_count() -> None:
    storm = [(logging.ERROR, f"FAIL: SASL handshake failed (after {n}ms)") for n in (1, 3, 0, 12)]

    kept = passed([*storm, (logging.INFO, "connected to broker 1")])

    assert kept == [
        "FAIL: SASL handshake failed (after 1ms)",
        "connected to broker 1 (after 3 more like the line before)",
    ]


def test_different_lines_and_levels_all_pass() -> None:
    messages = [
        (logging.ERROR, "FAIL: SASL handshake failed"),
        (logging.WARNING, "FAIL: SASL handshake failed"),
        (logging.WARNING, "CONFWARN: sasl.username is ignored"),
    ]

    assert passed(messages) == [text for _, text in messages]
