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


class PartialDeliveryError(DeliveryError):
    """Some records of a write are not durably written: ``unwritten`` indexes the caller's input.

    Lets a caller that can resume from a record (Lambda's partial batch response) name exactly
    the first unwritten one instead of the whole call.
    """

    def __init__(self, message: str, unwritten: tuple[int, ...]) -> None:
        super().__init__(message)
        self.unwritten = unwritten


class FencedError(StreamError):
    """Another instance took over this consumer's work; this one must stop without committing."""


class ModelError(StreamjuryError):
    """A model artifact is missing, unverifiable or unusable."""


class IntegrityError(ModelError):
    """A model artifact's sha256 does not match its manifest: it is never loaded."""
