"""The live table of ``lambda run``: the handler's EMF metrics with CloudWatch's statistics."""

from __future__ import annotations

from rich.console import Console

from consumers.lambda_metrics import UNITS, InvocationMetrics
from consumers.lambda_summary import LiveSummary


def metrics(records: int, dead: int, age_ms: float | None, cold: bool) -> InvocationMetrics:
    return InvocationMetrics(
        function_name="f",
        request_id="r",
        check="tip",
        model_version="v1",
        records_in=records,
        verdicts=records - dead,
        dead_letters=dead,
        reported_failures=0,
        handler_ms=20.0,
        predict_ms=5.0,
        iterator_age_ms=age_ms,
        cold_start=cold,
    )


def rows(summary: LiveSummary) -> dict[str, list[str]]:
    console = Console(record=True, width=140, force_terminal=False)
    console.print(summary.table())
    found: dict[str, list[str]] = {}
    for line in console.export_text().splitlines():
        cells = [cell.strip() for cell in line.split("│") if cell.strip()]
        if cells and cells[0] in UNITS:
            found[cells[0]] = cells[1:]
    return found


def test_the_table_shows_every_emf_metric_with_sum_average_and_maximum() -> None:
    summary = LiveSummary(footer=lambda: "0 discarded")
    summary.observe(metrics(100, 2, 1_500.0, cold=True))
    summary.observe(metrics(50, 0, 500.0, cold=False))

    table = rows(summary)

    assert set(table) == set(UNITS)
    assert table["RecordsIn"] == ["Count", "50", "150", "75", "100"]
    assert table["DeadLetters"] == ["Count", "0", "2", "1", "2"]
    assert table["ColdStart"] == ["Count", "0", "1", "0.5", "1"]
    assert table["IteratorAge"] == ["Milliseconds", "500", "-", "1,000", "1,500"]
    assert summary.invocations == 2


def test_before_any_invocation_every_metric_is_a_dash() -> None:
    table = rows(LiveSummary())

    assert all(cells[1:] == ["-", "-", "-", "-"] for cells in table.values())
