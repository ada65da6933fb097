"""The local runner's live view of the handler's metrics: the EMF metrics, as CloudWatch sums them.

Same names, units and statistics (Sum, Average, Maximum) as the CloudWatch console, so what a
developer sees under ``streamjury lambda run`` is what the deployed function will report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table

from consumers.lambda_metrics import ITERATOR_AGE, UNITS, InvocationMetrics


@dataclass
class _Series:
    last: float = 0.0
    total: float = 0.0
    count: int = 0
    maximum: float = 0.0

    def add(self, value: float) -> None:
        self.last = value
        self.total += value
        self.count += 1
        self.maximum = value if self.count == 1 else max(self.maximum, value)


@dataclass
class LiveSummary:
    """Collects every invocation's metrics; ``table()`` renders them, ``live()`` keeps it drawn.

    ``footer`` adds the runner's own figures (discarded batches, payload splits, timeouts).
    """

    title: str = "streamjury lambda run"
    footer: Callable[[], str] | None = None
    invocations: int = 0
    series: dict[str, _Series] = field(default_factory=dict)

    def observe(self, metrics: InvocationMetrics) -> None:
        self.invocations += 1
        for name, value in metrics.values().items():
            self.series.setdefault(name, _Series()).add(value)

    def table(self) -> Table:
        table = Table(
            title=f"{self.title}: {self.invocations} invocations", caption=self._caption()
        )
        for column in ("Metric", "Unit", "Last", "Sum", "Average", "Maximum"):
            table.add_column(column, justify="left" if column in ("Metric", "Unit") else "right")
        for name, unit in UNITS.items():
            series = self.series.get(name)
            if series is None or not series.count:
                table.add_row(name, unit.value, "-", "-", "-", "-")
                continue
            average = series.total / series.count
            table.add_row(
                name,
                unit.value,
                _number(series.last),
                "-" if name == ITERATOR_AGE else _number(series.total),
                _number(average),
                _number(series.maximum),
            )
        return table

    def _caption(self) -> str | None:
        return self.footer() if self.footer is not None else None

    @contextmanager
    def live(self, console: Console) -> Iterator[None]:
        """Redraw the table while the block runs (on a terminal); print it once at the end."""
        if console.is_terminal:
            with Live(self.table(), console=console, refresh_per_second=2, transient=True) as live:
                self._refresh: Callable[[], None] = lambda: live.update(self.table())
                try:
                    yield
                finally:
                    self._refresh = _nothing
        else:
            yield
        console.print(self.table())

    def refresh(self) -> None:
        """Redraw now, if a live view is on."""
        getattr(self, "_refresh", _nothing)()


def _nothing() -> None:
    """No live view to redraw."""


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
