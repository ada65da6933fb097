"""The root of streamjury's exception hierarchy.

Library errors are re-raised as one of these (``raise X(...) from exc``) so callers catch one family.
"""


class StreamjuryError(Exception):
    """Base class of every error streamjury raises on purpose."""


class ConfigError(StreamjuryError):
    """A setting, flag or file the user gave us is wrong; the message says what to fix."""


class InvalidEvent(StreamjuryError):
    """A record failed validation; ``reason`` is short, readable and safe to put in a dead letter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StreamError(StreamjuryError):
    """A transport failed: unknown stream, broker unreachable, commit refused."""


class UnknownStream(StreamError, ConfigError):
    """The stream name is not one this deployment knows."""


class DeliveryError(StreamError):
    """Records could not be durably written; the caller must not commit the inputs behind them."""


class RewoundDeliveryError(DeliveryError):
    """An atomic write failed, nothing of it is visible, and the consumer was rewound to the
    batch: drop whatever was derived from it and poll again (its records come back)."""


class OpenTransactionError(StreamError):
    """A read waits on a transaction that has neither committed nor aborted in time: it stops
    at the first record of that transaction, so it cannot know where the partition ends."""


class PartialDeliveryError(DeliveryError):
    """Some records of a write are not durably written: ``unwritten`` indexes the caller's input.

    Lets a caller that can resume from a record (Lambda's partial batch response) name exactly
    the first unwritten one instead of the whole call.
    """

    def __init__(
        self,
        message: str,
        unwritten: tuple[int, ...],
        by_stream: dict[str, tuple[int, ...]] | None = None,
    ) -> None:
        super().__init__(message)
        self.unwritten = unwritten
        self.by_stream = by_stream
        """From a producer's flush, if it knows: stream -> indices of the records sent to that
        stream since the last flush that were not written (a stream not named was written
        whole). A retry re-sends exactly those; None means "re-send everything"."""


class FencedError(StreamError):
    """Another instance took over this consumer's work; this one must stop without committing."""


class WriterFencedError(FencedError):
    """A live writer with this writer id took over: this process must exit (non-zero) rather
    than keep its partitions; an orchestrator restarts it. A plain FencedError (a rebalance)
    only means: drop what was derived from the batch and poll again."""


class ModelError(StreamjuryError):
    """A model artifact is missing, unverifiable or unusable."""


class IntegrityError(ModelError):
    """A model artifact's sha256 does not match its manifest: it is never loaded."""
