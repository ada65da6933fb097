"""Where librdkafka's own log lines go: one Python logger, with a client's retry storm folded.

A client that cannot log in reconnects many times a second and logs the same failure each time;
the lines are delivered together when the client is next polled. The first says why; the
hundreds of copies after it would bury everything else, so a line that differs from the one
before it only in its numbers (``after 3ms``) is dropped, and the next other line says how many
were.
"""

from __future__ import annotations

import logging
import re
import threading

LIBRDKAFKA_LOGGER = "streamjury.streams.kafka.backend.librdkafka"
NUMBERS = re.compile(r"\d+")


class RepeatFilter(logging.Filter):
    """Drops a record whose level and text, numbers aside, equal the previous record's."""

    def __init__(self) -> None:
        super().__init__()
        self._last: tuple[int, str] | None = None
        self._dropped = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        line = (record.levelno, NUMBERS.sub("#", record.getMessage()))
        with self._lock:
            if line == self._last:
                self._dropped += 1
                return False
            self._last, dropped, self._dropped = line, self._dropped, 0
        if dropped:
            record.msg = f"{record.getMessage()} (after {dropped} more like the line before)"
            record.args = None
        return True


def librdkafka_logger() -> logging.Logger:
    """The logger every Kafka client of this process hands to librdkafka, repeats folded."""
    logger = logging.getLogger(LIBRDKAFKA_LOGGER)
    if not any(isinstance(f, RepeatFilter) for f in logger.filters):
        logger.addFilter(RepeatFilter())
    return logger
