"""The import-linter contracts in pyproject.toml hold, and they would catch the imports they forbid.

``make lint`` runs ``lint-imports``; this runs the same contracts so a plain pytest sees them too.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter.configuration import configure
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.layers import LayersContract
from importlinter.domain.contract import Contract

REPO = Path(__file__).resolve().parents[3]
CONFIG: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"][
    "importlinter"
]
TYPES: dict[str, type[Contract]] = {
    "layers": LayersContract,
    "acyclic_siblings": AcyclicSiblingsContract,
}


configure()  # import-linter's own settings (its timer), as the lint-imports command does


def contract(kind: str) -> Contract:
    [options] = [c for c in CONFIG["contracts"] if c["type"] == kind]
    session = {"root_packages": CONFIG["root_packages"]}
    return TYPES[kind](options["name"], session, options)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*CONFIG["root_packages"], cache_dir=None)


@pytest.fixture
def fresh_graph(graph: grimp.ImportGraph) -> grimp.ImportGraph:
    return copy.deepcopy(graph)


@pytest.mark.parametrize("kind", sorted(TYPES))
def test_the_code_keeps_the_contract(graph: grimp.ImportGraph, kind: str) -> None:
    assert contract(kind).check(graph, verbose=False).kept


UPWARD = [
    (
        "streamjury.streams.kafka.config",
        "streamjury.streams.kinesis.shards",
    ),  # transport->transport
    ("streamjury.streams.base", "streamjury.streams.factory"),  # ground floor -> factory
    ("streamjury.settings", "streamjury.streams.local.backend"),  # ground floor -> transport
    ("models.store", "consumers.check"),  # models -> a role above it
    ("consumers.batch", "decision.policy"),  # independent roles
    ("streamjury.ops.metrics", "consumers.runtime"),  # ops -> roles
    ("decision.service", "streamjury.cli.main"),  # role -> CLI
]


@pytest.mark.parametrize(("importer", "imported"), UPWARD, ids=[f"{a}->{b}" for a, b in UPWARD])
def test_an_upward_or_sideways_import_breaks_the_layers(
    fresh_graph: grimp.ImportGraph, importer: str, imported: str
) -> None:
    fresh_graph.add_import(importer=importer, imported=imported)

    assert not contract("layers").check(fresh_graph, verbose=False).kept


def test_a_cycle_between_sibling_modules_breaks_the_acyclic_contract(
    fresh_graph: grimp.ImportGraph,
) -> None:
    fresh_graph.add_import(
        importer="streamjury.streams.kinesis.shards", imported="streamjury.streams.kinesis.consumer"
    )

    assert not contract("acyclic_siblings").check(fresh_graph, verbose=False).kept
