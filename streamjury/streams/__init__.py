"""The stream interface every transport implements, and the factory that opens one.

Transports live in their own subpackages (``local``, ``kafka``, ``kinesis``) plus ``memory``;
only ``factory.open_backend`` knows them all, and imports them lazily.
"""

from streamjury.streams.base import (
    AtomicWriter,
    Backend,
    OutRecord,
    PartitionsCallback,
    Record,
    StartFrom,
    StartKind,
    StreamConsumer,
    StreamProducer,
)
from streamjury.streams.factory import open_backend

__all__ = [
    "AtomicWriter",
    "Backend",
    "OutRecord",
    "PartitionsCallback",
    "Record",
    "StartFrom",
    "StartKind",
    "StreamConsumer",
    "StreamProducer",
    "open_backend",
]
