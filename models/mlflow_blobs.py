"""An MLflow model registry seen as a model location (``STREAMJURY_MODELS=mlflow:[PREFIX]``), so
the store's resolving, verifying and alias moves work on it unchanged.

Registered model ``PREFIX<name>`` holds the versions of model ``name``: each model version's
artifacts are ``model.joblib`` and its ``manifest.json`` (tag ``streamjury_version`` names it).
Registry aliases are the aliases; ``<name>/aliases.json`` is synthesised from them. The tracking
and registry stores come from MLflow's own ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.aliases import Alias, AliasBook, AliasConflict
from models.manifest import MANIFEST_FILE, VERSIONS_FOLDER
from streamjury.errors import ConfigError, ModelError
from streamjury.schemas import utc_now

if TYPE_CHECKING:
    from mlflow import MlflowClient

MLFLOW_SCHEMES = ("mlflow:", "models:/")
"""``mlflow:`` and ``mlflow:PREFIX``; ``models:/`` (MLflow's own URI style) means ``mlflow:``."""
MLFLOW_DEFAULT = "mlflow:"
VERSION_TAG = "streamjury_version"
HISTORY_TAG = "streamjury_aliases"
"""The alias book last written by streamjury (MLflow keeps no alias history; rollback needs it)."""
DEFAULT_EXPERIMENT = "streamjury"
ARTIFACT_FOLDER = "model"


def is_mlflow(location: str) -> bool:
    return location.startswith(MLFLOW_SCHEMES)


@dataclass(frozen=True, slots=True)
class _Key:
    name: str
    version: str | None = None
    file: str | None = None


class MlflowBlobs:
    """The ``Blobs`` of a registry: versions and aliases read and moved through ``MlflowClient``."""

    def __init__(self, location: str, cache_dir: Path, client: MlflowClient | None = None) -> None:
        scheme = next(scheme for scheme in MLFLOW_SCHEMES if location.startswith(scheme))
        self.prefix = "" if scheme == "models:/" else location[len(scheme) :]
        self._client = client
        self._cache_dir = cache_dir / "mlflow"
        self._downloads: dict[tuple[str, str], Path] = {}
        """Downloaded once per process; every load still verifies the bytes it unpickles."""

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            try:
                from mlflow import MlflowClient
            except ImportError as exc:
                raise ConfigError(
                    "STREAMJURY_MODELS names an MLflow registry but mlflow is not installed: "
                    "pip install 'streamjury[mlflow]'"
                ) from exc
            self._client = MlflowClient()
        return self._client

    def registered(self, name: str) -> str:
        return f"{self.prefix}{name}"

    # -- Blobs ---------------------------------------------------------------------------------

    def describe(self, key: str) -> str:
        parsed = _parse(key)
        where = f"models:/{self.registered(parsed.name)}"
        if parsed.version is not None:
            where += f"/{parsed.version}"
        return f"{where}/{parsed.file}" if parsed.file else where

    def local_path(self, key: str) -> None:
        return None

    def read(self, key: str) -> bytes | None:
        parsed = _parse(key)
        if parsed.version is None:
            return self._alias_book(parsed.name) if parsed.file == "aliases.json" else None
        number = self._number(parsed.name, parsed.version)
        if number is None or parsed.file is None:
            return None
        path = self._download(parsed.name, number) / parsed.file
        return path.read_bytes() if path.is_file() else None

    def read_artifact(self, key: str, sha256: str) -> bytes:
        data = self.read(key)
        if data is None:
            raise ModelError(f"{self.describe(key)} is missing: run 'streamjury train --mlflow'")
        return data

    def read_for_update(self, key: str) -> tuple[bytes | None, str | None]:
        data = self.read(key)
        return data, (self._alias_token(_parse(key).name) if data is not None else None)

    def write_if(self, key: str, data: bytes, token: str | None) -> None:
        """Move the registry's aliases to what ``data`` (an alias book) says, if unchanged since.

        MLflow has no conditional alias update: this compares, then sets (a narrow race remains).
        """
        name = _parse(key).name
        if self.read_for_update(key)[1] != token:
            raise AliasConflict(f"the aliases of {self.describe(key)} changed meanwhile: try again")
        wanted = AliasBook.parse(data, self.describe(key))
        current = self._registry_aliases(name)
        registered = self.registered(name)
        for alias, entry in wanted.aliases.items():
            number = self._number(name, entry.version)
            if number is None:
                raise ModelError(f"version {entry.version!r} is not in models:/{registered}")
            if current.get(alias) != number:
                self._call(self.client.set_registered_model_alias, registered, alias, number)
        for alias in current.keys() - wanted.aliases.keys():
            self._call(self.client.delete_registered_model_alias, registered, alias)
        self._call(
            self.client.set_registered_model_tag, registered, HISTORY_TAG, data.decode().strip()
        )

    def write(self, key: str, data: bytes) -> None:
        raise ModelError(f"{self.describe(key)}: register whole versions ('train --mlflow')")

    def write_version(self, folder: str, files: list[tuple[str, bytes]]) -> None:
        """Log ``files`` as one run's artifacts and register them as a new model version."""
        parsed = _parse(f"{folder}/")
        if parsed.version is None:
            raise ModelError(f"{folder} is not a version folder")
        if self._number(parsed.name, parsed.version) is not None:
            return  # same version (same bytes) already registered
        client = self.client
        experiment_name = os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT)
        experiment = self._call(client.get_experiment_by_name, experiment_name)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else self._call(client.create_experiment, experiment_name)
        )
        run = self._call(client.create_run, experiment_id, run_name=parsed.version)
        run_id = run.info.run_id
        with tempfile.TemporaryDirectory(prefix="streamjury-mlflow-") as staging:
            for file_name, data in files:
                (Path(staging) / file_name).write_bytes(data)
            self._call(client.log_artifacts, run_id, staging, artifact_path=ARTIFACT_FOLDER)
        self._call(client.set_terminated, run_id)
        registered = self.registered(parsed.name)
        if not self._search(f"name='{registered}'", models=True):
            self._call(client.create_registered_model, registered)
        self._call(
            client.create_model_version,
            registered,
            source=f"runs:/{run_id}/{ARTIFACT_FOLDER}",
            run_id=run_id,
            tags={VERSION_TAG: parsed.version},
        )

    def keys(self, prefix: str) -> list[str]:
        if not prefix:
            found = self._search(f"name LIKE '{self.prefix}%'", models=True)
            names = [  # LIKE treats '_' in the prefix as a wildcard
                model.name[len(self.prefix) :]
                for model in found
                if model.name.startswith(self.prefix)
            ]
            return sorted(key for name in names for key in self._model_keys(name))
        parsed = _parse(prefix)
        if parsed.version is None:
            return self._model_keys(parsed.name)
        if self._number(parsed.name, parsed.version) is None:
            return []
        files = sorted(path.name for path in self._download(parsed.name, parsed.version).iterdir())
        return [f"{prefix}{file}" for file in files]

    # -- the registry --------------------------------------------------------------------------

    def _model_keys(self, name: str) -> list[str]:
        versions = sorted(self._versions(name))
        keys = [f"{name}/{VERSIONS_FOLDER}/{version}/{MANIFEST_FILE}" for version in versions]
        return [f"{name}/aliases.json", *keys] if versions else []

    def _versions(self, name: str) -> dict[str, str]:
        """streamjury version -> MLflow version number, for every registered version of ``name``."""
        found = self._search(f"name='{self.registered(name)}'")
        return {mv.tags.get(VERSION_TAG, str(mv.version)): str(mv.version) for mv in found}

    def _number(self, name: str, version: str) -> str | None:
        """The MLflow version number of ``version`` (a streamjury version or a number)."""
        versions = self._versions(name)
        if version in versions:
            return versions[version]
        return version if version.isdigit() and version in versions.values() else None

    def _aliases_state(self, name: str) -> tuple[dict[str, str], str, datetime]:
        """The registry's aliases (alias -> number), the book streamjury last wrote, and when."""
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(self.registered(name))
        except MlflowException:
            return {}, "", utc_now()
        aliases = {alias: str(number) for alias, number in (model.aliases or {}).items()}
        updated = datetime.fromtimestamp((model.last_updated_timestamp or 0) / 1000, tz=UTC)
        return aliases, (model.tags or {}).get(HISTORY_TAG, ""), updated

    def _registry_aliases(self, name: str) -> dict[str, str]:
        return self._aliases_state(name)[0]

    def _alias_token(self, name: str) -> str:
        current, remembered, _ = self._aliases_state(name)
        state = json.dumps([sorted(current.items()), remembered])
        return hashlib.sha256(state.encode()).hexdigest()

    def _alias_book(self, name: str) -> bytes | None:
        """The registry's aliases as an alias book, with history from streamjury's last write."""
        current, raw, updated = self._aliases_state(name)
        if not current:
            return None
        by_number = {number: version for version, number in self._versions(name).items()}
        try:
            remembered = AliasBook.parse(raw.encode(), HISTORY_TAG) if raw else AliasBook()
        except ModelError:
            remembered = AliasBook()
        aliases = {}
        for alias, number in current.items():
            version = by_number.get(number, number)
            before = remembered.aliases.get(alias)
            history: list[str] = []
            if before is not None:
                moved_outside = before.version != version  # in MLflow itself, after our last write
                history = [*before.history, before.version] if moved_outside else before.history
            aliases[alias] = Alias(version=version, history=history, updated_at=updated)
        return AliasBook(aliases=aliases).to_bytes()

    def _download(self, name: str, version: str) -> Path:
        number = self._number(name, version) or version
        registered = self.registered(name)
        cached = self._downloads.get((registered, number))
        if cached is not None and cached.is_dir():
            return cached
        import mlflow.artifacts

        target = self._cache_dir / registered / number
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        path = self._call(
            mlflow.artifacts.download_artifacts,
            artifact_uri=f"models:/{registered}/{number}",
            dst_path=str(target),
        )
        self._downloads[(registered, number)] = Path(path)
        return Path(path)

    def _search(self, filter_string: str, *, models: bool = False) -> list[Any]:
        search = (
            self.client.search_registered_models if models else self.client.search_model_versions
        )
        return list(self._call(search, filter_string=filter_string))

    @staticmethod
    def _call(function: Any, *args: Any, **kwargs: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return function(*args, **kwargs)
        except MlflowException as exc:
            raise ModelError(f"MLflow registry: {_without_credentials(exc.message)}") from exc


_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def _without_credentials(message: str) -> str:
    """``https://user:token@host`` -> ``https://***@host``: a tracking URI may carry a secret."""
    return _URL_CREDENTIALS.sub("***@", message)


def _parse(key: str) -> _Key:
    parts = key.split("/")
    if len(parts) >= 3 and parts[1] == VERSIONS_FOLDER:
        return _Key(parts[0], parts[2] or None, "/".join(parts[3:]) or None)
    return _Key(parts[0], None, "/".join(parts[1:]) or None)
