"""Turns one suite run's results into the markdown tables of docs/benchmarks.md and PNG plots.

Every ratio compares figures of the same run; spreads are min..max of the repeats.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.pipeline import CO_LOCATED, TWO_DECIDERS

DEPLOYMENTS = {
    CO_LOCATED: "co-located checks",
    TWO_DECIDERS: "co-located checks and 2 decision instances",
}
"""The other deployments the headline compares with the default one, and how it names them."""

BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"


def _median(rows: Sequence[dict[str, float]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def _spread(rows: Sequence[dict[str, float]], key: str) -> str:
    values = [row[key] for row in rows]
    return f"{min(values):,.0f}..{max(values):,.0f}"


def _round_ratio(rows: Sequence[dict[str, float]], key: str) -> float:
    """The median over rounds of ``key`` / that round's passthrough: a slow spell of the
    machine slows both ways of its round, so the ratio shakes less than the rates do."""
    return statistics.median(row[key] / row["passthrough"] for row in rows)


def _load(rate: float) -> str:
    return "max" if not rate else f"{rate:,.0f}"


def _pipeline(results: dict[str, Any], system: str) -> list[dict[str, Any]]:
    return [run for run in results.get("pipeline", []) if run["system"] == system]


def _max_throughput(results: dict[str, Any], system: str) -> float | None:
    runs = [r for r in _pipeline(results, system) if not r["offered"] and r["throughput"]]
    return runs[0]["throughput"] if runs else None


def summary_lines(results: dict[str, Any]) -> list[str]:
    """The headline ratios, one line each."""
    lines = []
    check = results.get("check", [])
    if check:
        passthrough = _median(check, "passthrough")
        ours = _median(check, "batch 500") if "batch 500" in check[0] else None
        if ours:
            lines.append(
                f"one check (duration, batch 500): {_round_ratio(check, 'batch 500'):.1%} of raw "
                f"passthrough (median of {len(check)} rounds' ratios; medians {ours:,.0f} "
                f"and {passthrough:,.0f} ev/s)"
            )
    by_instances = _decision_by_instances(results)
    if by_instances:
        lines.append(
            "decision service: "
            + ", ".join(
                f"{_median(rows, 'verdicts_per_s'):,.0f} verdicts/s with {_instances(n)}"
                + _ceiling(rows)
                for n, rows in by_instances.items()
            )
        )
    ours_max, quix_max = _max_throughput(results, "streamjury"), _max_throughput(results, "quix")
    if ours_max:
        line = f"pipeline max: {ours_max:,.0f} ev/s"
        if quix_max:
            line += f" = {ours_max / quix_max:.1f}x Quix Streams ({quix_max:,.0f} ev/s)"
        lines.append(line)
    for run in _pipeline(results, "streamjury"):
        if run["offered"] and run["latency_ms"]:
            lines.append(
                f"pipeline at {_load(run['offered'])} ev/s: p99 {run['latency_ms']['p99']:,.0f} ms"
            )
    for system, what in DEPLOYMENTS.items():
        best = _max_throughput(results, system)
        if best:
            line = f"pipeline max, {what}: {best:,.0f} ev/s"
            if ours_max:
                line += f" = {best / ours_max:.2f}x the default deployment"
            if quix_max:
                line += f" = {best / quix_max:.1f}x Quix Streams"
            lines.append(line)
    for run in _pipeline(results, CO_LOCATED):
        if run["offered"] and run["latency_ms"]:
            latency = run["latency_ms"]
            lines.append(
                f"pipeline at {_load(run['offered'])} ev/s, co-located checks: "
                f"p50 {latency['p50']:,.0f} ms, p99 {latency['p99']:,.0f} ms"
            )
    return lines


def render(results: dict[str, Any], plots: dict[str, str]) -> str:
    """The results section as markdown."""
    versions = results["versions"]
    when = datetime.fromtimestamp(results["started"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    minutes = (results["finished"] - results["started"]) / 60
    out = [
        f"_Run of {when} (`--size {results['size']}`, {minutes:.0f} min), Python "
        f"{versions['python']}, confluent-kafka {versions['confluent-kafka']}, quixstreams "
        f"{versions['quixstreams']}, numpy {versions['numpy']}, scikit-learn "
        f"{versions['scikit-learn']}, pydantic {versions['pydantic']}._",
        "",
        "### Headline",
        "",
        *[f"- {line}" for line in summary_lines(results)],
        "",
    ]
    out += _pipeline_section(results, plots)
    out += _check_section(results)
    out += _decision_section(results)
    out += _cli_section(results)
    out += _lambda_section(results)
    out += _resources_section(results)
    return "\n".join(out) + "\n"


def _pipeline_section(results: dict[str, Any], plots: dict[str, str]) -> list[str]:
    out = [
        "### Whole pipeline on Kafka",
        "",
        "Events in = decisions out (read_committed). Latency is the event's `occurred_at` (its "
        "slot in the offered schedule) to the moment a `read_committed` reader in the bench got "
        "its first decision: the decision is visible, its transaction committed. The last "
        "column is the same to the decision's `decided_at`, which the decision service stamps "
        "before that transaction commits; achieved ev/s is up to the last decision read.",
        "",
        "| system | offered ev/s | events | decided | exact | achieved ev/s | p50 ms | p95 ms | "
        "p99 ms | max ms | p99 ms to decided_at |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results.get("pipeline", []):
        lat = run["latency_ms"] or {}
        decided = (run.get("decided_ms") or {}).get("p99", float("nan"))
        out.append(
            f"| {run['system']} | {_load(run['offered'])} | {run['events']:,} | "
            f"{run['decided']:,} | {'yes' if run['ok'] else 'no'} | "
            f"{run['throughput'] or 0:,.0f} | "
            + " | ".join(f"{lat.get(k, float('nan')):,.0f}" for k in ("p50", "p95", "p99", "max"))
            + f" | {decided:,.0f} |"
        )
    out.append("")
    for title, name in (("throughput", "throughput"), ("latency", "latency")):
        if name in plots:
            out += [f"![{title} vs offered load]({plots[name]})", ""]
    return out


def _check_section(results: dict[str, Any]) -> list[str]:
    check = results.get("check", [])
    if not check:
        return []
    out = [
        "### One check alone (`duration`, Kafka in and out, 6 partitions, one member)",
        "",
        f"Medians of {len(check)} rounds, the ways taking turns; rate from the output records' "
        'timestamps, so joining the group is not counted. "of passthrough" is the median of '
        "each round's ratio to that round's passthrough.",
        "",
        "| way | ev/s (median) | spread | of passthrough |",
        "|---|---:|---:|---:|",
    ]
    for key in check[0]:
        value = _median(check, key)
        ratio = _round_ratio(check, key)
        out.append(f"| {key} | {value:,.0f} | {_spread(check, key)} | {ratio:.1%} |")
    out.append("")
    if results.get("checks"):
        out += [
            "Every check at batch size 500 (one run each):",
            "",
            "| check | ev/s |",
            "|---|---:|",
        ]
        out += [f"| {name} | {rate:,.0f} |" for name, rate in results["checks"].items()]
        out.append("")
    return out


def _decision_section(results: dict[str, Any]) -> list[str]:
    by_instances = _decision_by_instances(results)
    if not by_instances:
        return []
    runs = len(next(iter(by_instances.values())))
    out = [
        "### Decision service alone (Kafka transactions)",
        "",
        f"{results['decision_verdicts']:,} verdicts, published once every instance has its "
        f"partitions; each instance a `streamjury decide` process; {runs} runs, taking turns. "
        "Verdicts/s from the first verdict published to the last decision written (the "
        "publisher's burst on the shared cores and each first batch counted: a floor), and from "
        "the first decision written (both left out: a ceiling).",
        "",
        "| instances | verdicts/s (median) | spread | from the first decision (median) "
        "| decisions/s (median) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for instances, rows in by_instances.items():
        ceiling = (
            f"{_median(rows, 'verdicts_per_s_from_first_decision'):,.0f}"
            if "verdicts_per_s_from_first_decision" in rows[0]
            else "-"
        )
        out.append(
            f"| {instances} | {_median(rows, 'verdicts_per_s'):,.0f} | "
            f"{_spread(rows, 'verdicts_per_s')} | {ceiling} | "
            f"{_median(rows, 'decisions_per_s'):,.0f} |"
        )
    return [*out, ""]


def _decision_by_instances(results: dict[str, Any]) -> dict[int, list[dict[str, float]]]:
    """The decision runs by instance count (a run without one is one instance, as before)."""
    found: dict[int, list[dict[str, float]]] = {}
    for row in results.get("decision", []):
        found.setdefault(int(row.get("instances", 1)), []).append(row)
    return dict(sorted(found.items()))


def _ceiling(rows: Sequence[dict[str, float]]) -> str:
    key = "verdicts_per_s_from_first_decision"
    return f" ({_median(rows, key):,.0f} from the first decision)" if key in rows[0] else ""


def _instances(count: int) -> str:
    return "one instance" if count == 1 else f"{count} instances"


def _cli_section(results: dict[str, Any]) -> list[str]:
    cli = results.get("cli")
    if not cli:
        return []
    return [
        f"### Command-line tools ({cli['events']:,} rides)",
        "",
        "| tool | ev/s as it reports | ev/s including start-up |",
        "|---|---:|---:|",
        f"| `produce rides` | {cli['produce_reported_per_s']:,.0f} | "
        f"{cli['produce_with_startup_per_s']:,.0f} |",
        f"| `record rides` | - | {cli['record_with_startup_per_s']:,.0f} |",
        f"| `replay --speed max` | {cli['replay_reported_per_s']:,.0f} | "
        f"{cli['replay_with_startup_per_s']:,.0f} |",
        "",
    ]


def _lambda_section(results: dict[str, Any]) -> list[str]:
    lam = results.get("lambda")
    if not lam:
        return []
    return [
        f"### Lambda consumer (`duration`, {lam['records']} Kinesis records per batch, dry run)",
        "",
        "| figure | wall | CPU |",
        "|---|---:|---:|",
        f"| handler, one batch (median) | {lam['batch_ms']:.1f} ms "
        f"({lam['batch_ms_spread'][0]:.1f}..{lam['batch_ms_spread'][1]:.1f}) | "
        f"{lam['batch_cpu_ms']:.1f} ms |",
        f"| seed style, record by record | {lam['per_record_ms']:.1f} ms "
        f"({lam['per_record_ms_spread'][0]:.1f}..{lam['per_record_ms_spread'][1]:.1f}) | "
        f"{lam['per_record_cpu_ms']:.1f} ms |",
        f"| ratio | {lam['per_record_ms'] / lam['batch_ms']:.1f}x | "
        f"{lam['per_record_cpu_ms'] / max(lam['batch_cpu_ms'], 1e-9):.1f}x |",
        f"| cold start: imports | {lam['cold_imports_s']:.2f} s | |",
        f"| cold start: imports + model load + first batch | {lam['cold_start_s']:.2f} s | "
        f"{lam['cold_start_cpu_s']:.2f} s |",
        f"| artifact (zip, with the model) | {lam['artifact_zipped_mb']:.2f} MiB zipped, "
        f"{lam['artifact_unzipped_mb']:.2f} MiB unzipped | |",
        "",
    ]


def _resources_section(results: dict[str, Any]) -> list[str]:
    runs = results.get("pipeline", [])
    if not runs:
        return []
    out = [
        "### Resources per service during the pipeline runs",
        "",
        "CPU µs per event of the phase (user + system, from /proc) / peak RSS (VmHWM, MiB).",
        "",
    ]
    services = list(dict.fromkeys(u["service"] for run in runs for u in run["usage"]))
    out.append("| system | offered | " + " | ".join(services) + " |")
    out.append("|---|---:|" + "---:|" * len(services))
    for run in runs:
        usage = {u["service"]: u for u in run["usage"]}
        cells = []
        for name in services:
            u = usage.get(name)
            cells.append(
                "-"
                if u is None
                else f"{u['cpu_s'] / max(run['events'], 1) * 1e6:,.0f} µs / {u['peak_rss_mb']:.0f}"
            )
        out.append(f"| {run['system']} | {_load(run['offered'])} | " + " | ".join(cells) + " |")
    out.append("")
    return out


def plot(results: dict[str, Any], directory: Path) -> dict[str, str]:
    """Throughput and latency percentiles against offered load; name -> file, relative."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    runs = results.get("pipeline", [])
    if not runs:
        return {}
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    systems = sorted({run["system"] for run in runs})
    highest = max((run["offered"] for run in runs), default=0) or max(
        (run["throughput"] or 0) for run in runs
    )
    rightmost = highest * 1.25  # where "as fast as possible" is drawn

    def x_of(run: dict[str, Any]) -> float:
        return run["offered"] or rightmost

    fig, ax = plt.subplots(figsize=(9, 5))
    for system in systems:
        mine = sorted((r for r in runs if r["system"] == system), key=x_of)
        ax.plot([x_of(r) for r in mine], [r["throughput"] or 0 for r in mine], "o-", label=system)
    ax.plot([0, highest], [0, highest], ":", color="grey", label="offered")
    ax.set_yscale("log")
    ax.set_xlabel("offered events/s (rightmost: as fast as possible)")
    ax.set_ylabel("decided events/s")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(directory / "throughput.png", dpi=100)
    plt.close(fig)
    files["throughput"] = f"{directory.name}/throughput.png"

    fig, ax = plt.subplots(figsize=(9, 5))
    for system in systems:
        mine = sorted((r for r in runs if r["system"] == system and r["latency_ms"]), key=x_of)
        for key, style in (("p50", "o-"), ("p99", "s--")):
            ax.plot(
                [x_of(r) for r in mine],
                [r["latency_ms"][key] for r in mine],
                style,
                label=f"{system} {key}",
            )
    ax.set_yscale("log")
    ax.set_xlabel("offered events/s (rightmost: as fast as possible)")
    ax.set_ylabel("end-to-end latency (to decision read), ms")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(directory / "latency.png", dpi=100)
    plt.close(fig)
    files["latency"] = f"{directory.name}/latency.png"
    return files


def write_report(results: dict[str, Any], path: Path) -> None:
    """Replace the results section of ``path`` (between the markers), or append one."""
    plots = plot(results, path.parent / "benchmarks")
    section = f"{BEGIN}\n{render(results, plots)}{END}"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Latest results\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
