"""Serves a check's model at an alias and follows the alias to new versions between batches.

The runtime asks ``current()`` as each batch starts, so a batch never mixes versions. A new
version is loaded and its sha256 verified before it replaces the old; if it fails, the old keeps
serving and the failure is logged, counted and shown in ``/readyz``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter

from consumers.check import CheckModel, CheckSpec, ModelSource
from models.store import ModelStore
from streamjury.errors import StreamjuryError
from streamjury.ops.metrics import LABELS, Metrics, ServiceMetrics

log = logging.getLogger(__name__)


class RolloutListener(Protocol):
    """Told about every swap and refusal (metrics and readiness details listen)."""

    def swapped(self, model: str, old: str, new: str) -> None: ...

    def refused(self, version: str, reason: str) -> None: ...


class _Quiet:
    def swapped(self, model: str, old: str, new: str) -> None:
        return None

    def refused(self, version: str, reason: str) -> None:
        return None


class RolloutMetrics:
    """``streamjury_model_swaps{outcome="swapped|refused"}`` beside the service's other metrics,
    and ``streamjury_model_info`` following the version that serves."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._swaps: Counter | None = None
        if isinstance(metrics, ServiceMetrics):
            counter = Counter(
                "streamjury_model_swaps",
                "Model versions swapped in between batches, or refused (the old one kept serving).",
                (*LABELS, "outcome"),
                registry=metrics.registry,
            )
            self._labels = metrics.labels
            self._swaps = counter
            for outcome in ("swapped", "refused"):
                counter.labels(*self._labels, outcome)

    def swapped(self, model: str, old: str, new: str) -> None:
        self._metrics.set_model(model, new)
        if self._swaps is not None:
            self._swaps.labels(*self._labels, "swapped").inc()

    def refused(self, version: str, reason: str) -> None:
        if self._swaps is not None:
            self._swaps.labels(*self._labels, "refused").inc()


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    """What ``/readyz`` shows: the version serving, and the last version refused and why."""

    alias: str
    serving: str
    swaps: int
    refusals: int
    refused_version: str | None
    refused_reason: str | None

    def as_details(self) -> dict[str, object]:
        return {
            "alias": self.alias,
            "serving": self.serving,
            "swaps": self.swaps,
            "refusals": self.refusals,
            "refused_version": self.refused_version,
            "refused_reason": self.refused_reason,
        }


class _RecordingSource:
    """A ModelSource that notes which model names a check reads, so only those are watched."""

    def __init__(self, store: ModelSource) -> None:
        self.store = store
        self.names: list[str] = []

    def load(self, name: str) -> object:
        self._note(name)
        return self.store.load(name)

    def version(self, name: str) -> str:
        self._note(name)
        return self.store.version(name)

    def _note(self, name: str) -> None:
        if name not in self.names:
            self.names.append(name)


class ModelRollout:
    """The model a check serves now; re-reads its alias every ``poll_interval_s`` (0: only when
    ``request_check()`` is called, as SIGHUP does) and swaps only between calls of ``current()``.

    ``wrap`` is applied to every model served (the timing wrapper of the metrics). Only a
    ``ModelStore`` is followed; any other ModelSource serves its one model.
    """

    def __init__(
        self,
        spec: CheckSpec,
        store: ModelSource,
        *,
        poll_interval_s: float,
        wrap: Callable[[CheckModel], CheckModel] = lambda model: model,
        listener: RolloutListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self._store = store
        self._interval = poll_interval_s
        self._wrap = wrap
        self._listener = listener or _Quiet()
        self._clock = clock
        self._requested = threading.Event()
        source = _RecordingSource(store)
        model = spec.load_model(source)  # no model at all is fatal: let it raise
        self._names = tuple(source.names)
        self._versions = {name: store.version(name) for name in self._names}
        self._model = wrap(model)
        self._checked_at = clock()
        self._refused: dict[str, str] | None = None
        self._swaps = 0
        self._refusals = 0
        self._refused_version: str | None = None
        self._refused_reason: str | None = None

    @property
    def model(self) -> CheckModel:
        return self._model

    def request_check(self) -> None:
        """Re-read the alias before the next batch, and retry a refused version (thread-safe)."""
        self._requested.set()

    @property
    def alias(self) -> str:
        return self._store.ref if isinstance(self._store, ModelStore) else "(fixed)"

    def status(self) -> RolloutStatus:
        return RolloutStatus(
            alias=self.alias,
            serving=self._model.version,
            swaps=self._swaps,
            refusals=self._refusals,
            refused_version=self._refused_version,
            refused_reason=self._refused_reason,
        )

    def current(self) -> CheckModel:
        """The model for the next batch: the alias's new version once it has loaded and verified."""
        forced = self._requested.is_set()
        due = self._interval > 0 and self._clock() - self._checked_at >= self._interval
        if forced or due:
            self._requested.clear()
            self._checked_at = self._clock()
            self._check(retry_refused=forced)
        return self._model

    def _check(self, *, retry_refused: bool) -> None:
        if not isinstance(self._store, ModelStore):
            return  # a fixed source (tests, a baked Lambda package) has nothing to follow
        view = self._store.refreshed()
        try:
            versions = self._versions_of(view)
        except StreamjuryError as exc:
            log.warning(
                "check %s: cannot read alias %r (%s); still serving %s",
                self.spec.name,
                self.alias,
                exc,
                self._model.version,
            )
            return
        if versions == self._versions:
            return
        if versions == self._refused and not retry_refused:
            return  # refused already; a SIGHUP or another promotion tries again
        label = ", ".join(versions.values())
        try:
            candidate = self.spec.load_model(view)
        except Exception as exc:  # a bad candidate can fail in any way: the old one keeps serving
            self._refuse(versions, label, f"{type(exc).__name__}: {exc}")
            return
        old = self._model.version
        self._model = self._wrap(candidate)
        self._versions = versions
        self._refused = None
        self._swaps += 1
        log.info(
            "check %s: alias %r moved; now serving %s (was %s)",
            self.spec.name,
            self.alias,
            self._model.version,
            old,
        )
        self._listener.swapped(self._model.name, old, self._model.version)

    def _refuse(self, versions: dict[str, str], label: str, reason: str) -> None:
        self._refused = versions
        self._refusals += 1
        self._refused_version = label
        self._refused_reason = reason
        log.error(
            "check %s: refused %s from alias %r, still serving %s: %s",
            self.spec.name,
            label,
            self.alias,
            self._model.version,
            reason,
        )
        self._listener.refused(label, reason)

    def _versions_of(self, view: ModelStore) -> dict[str, str]:
        return {name: view.version(name) for name in self._names}


@contextmanager
def reload_on_sighup(*rollouts: ModelRollout) -> Iterator[None]:
    """While inside, SIGHUP asks every rollout to re-read its alias (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_checks(signum: int, frame: object) -> None:
        for rollout in rollouts:
            rollout.request_check()

    previous = signal.signal(signal.SIGHUP, request_checks)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)
