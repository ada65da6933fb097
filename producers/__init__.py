"""The producers: seeded synthetic events, JSON Lines files and recordings, published at a pace.

``publisher.Publisher`` sends; ``synthetic``, ``jsonl`` and ``replay`` say what and when.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamjury.lazy import lazy_exports

if TYPE_CHECKING:
    from producers.jsonl import check_file, valid_events
    from producers.publisher import Outgoing, Publisher, PublishStats, SteadyRate, Unpaced
    from producers.recorder import record_stream
    from producers.replay import EventTimePacing, parse_speed
    from producers.settings import ProducerSettings
    from producers.synthetic import generate_rides, generate_uploads, iter_rides, iter_uploads

__all__ = [
    "EventTimePacing",
    "Outgoing",
    "ProducerSettings",
    "PublishStats",
    "Publisher",
    "SteadyRate",
    "Unpaced",
    "check_file",
    "generate_rides",
    "generate_uploads",
    "iter_rides",
    "iter_uploads",
    "parse_speed",
    "record_stream",
    "valid_events",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "EventTimePacing": "producers.replay",
        "Outgoing": "producers.publisher",
        "ProducerSettings": "producers.settings",
        "PublishStats": "producers.publisher",
        "Publisher": "producers.publisher",
        "SteadyRate": "producers.publisher",
        "Unpaced": "producers.publisher",
        "check_file": "producers.jsonl",
        "generate_rides": "producers.synthetic",
        "generate_uploads": "producers.synthetic",
        "iter_rides": "producers.synthetic",
        "iter_uploads": "producers.synthetic",
        "parse_speed": "producers.replay",
        "record_stream": "producers.recorder",
        "valid_events": "producers.jsonl",
    },
)
