"""Trains the five models, scores each on held-out rows, and saves artifact plus manifest.

Synthetic data by default (``producers.synthetic``); ride models can learn from NYC TLC files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.aliases import DEFAULT_ALIAS, AliasBook
from models.aliasing import adopt_first, move_alias
from models.blobs import LocalBlobs
from models.copyright_index import CopyrightIndex
from models.features import RIDE_FEATURES, UPLOAD_FEATURES, RideColumns, UploadColumns
from models.manifest import Manifest, save_artifact
from models.metrics import classifier_metrics, regression_metrics
from models.moderation import TextFlagClassifier
from models.rides import DurationRegressor, TipRegressor
from models.tlc import read_trip_records
from producers import synthetic
from streamjury.errors import ConfigError

log = logging.getLogger(__name__)

Array = npt.NDArray[Any]
MODEL_NAMES = ("duration", "tip", "copyright", "nsfw", "violence")
DEFAULT_ROWS = 20_000
"""Rows per data set (rides, uploads): all five models train in a few seconds on two cores."""
MIN_ROWS = 200
HELD_OUT_SHARE = 0.2
SYNTHETIC_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
"""A fixed start makes synthetic training data, and so the artifacts, reproducible by seed."""


@dataclass(frozen=True)
class RideData:
    columns: RideColumns
    duration_minutes: Array
    tip_amount: Array
    source: str


@dataclass(frozen=True)
class UploadData:
    columns: UploadColumns
    fingerprints: list[str]
    nsfw: Array
    violent: Array
    copied: Array
    source: str


@dataclass(frozen=True)
class Split:
    """Row indices of a seeded train / held-out split."""

    train: Array
    held_out: Array

    @classmethod
    def of(cls, rows: int, seed: int) -> Split:
        order = np.random.default_rng([seed, 7]).permutation(rows)
        cut = round(rows * (1.0 - HELD_OUT_SHARE))
        return cls(train=order[:cut], held_out=order[cut:])


def train_all(
    out_dir: Path,
    rows: int = DEFAULT_ROWS,
    seed: int = 0,
    tlc_data: Path | None = None,
    *,
    promote: bool = False,
) -> list[Manifest]:
    """Train, evaluate and save every model as a new version under ``out_dir``.

    The ``production`` alias moves only with ``promote``, or for a model that had none (so a
    fresh location is usable at once); otherwise live consumers keep their version.
    """
    if rows < MIN_ROWS:
        raise ConfigError(f"rows must be at least {MIN_ROWS}, got {rows}")
    rides = ride_data(rows, seed, tlc_data)
    uploads = upload_data(rows, seed)
    manifests = [
        train_duration(rides, out_dir, seed),
        train_tip(rides, out_dir, seed),
        build_copyright(uploads, out_dir, seed),
        train_flag("nsfw", uploads.nsfw, uploads, out_dir, seed),
        train_flag("violence", uploads.violent, uploads, out_dir, seed),
    ]
    blobs = LocalBlobs(out_dir)
    for manifest in manifests:
        version = manifest.version
        if promote:
            move_alias(blobs, manifest.name, DEFAULT_ALIAS, partial(_point, version=version))
        elif adopt_first(blobs, manifest.name, version):
            log.info(
                "%s is the first %s model here: it is production", manifest.version, manifest.name
            )
    return manifests


def _point(book: AliasBook, version: str) -> AliasBook:
    return book.moved(DEFAULT_ALIAS, version)


def ride_data(rows: int, seed: int, tlc_data: Path | None) -> RideData:
    """Synthetic rides, or up to ``rows`` clean trips sampled from a TLC file."""
    if tlc_data is not None:
        records = read_trip_records(tlc_data)
        rng = np.random.default_rng([seed, 11])
        picked = np.sort(rng.permutation(len(records))[:rows])
        return RideData(
            columns=records.columns.take(picked),
            duration_minutes=records.duration_minutes[picked],
            tip_amount=records.tip_amount[picked],
            source=f"NYC TLC trip records: {tlc_data.name}",
        )
    labelled = synthetic.generate_rides(seed, rows, start=SYNTHETIC_EPOCH)
    return RideData(
        columns=RideColumns.from_events([ride.event for ride in labelled]),
        duration_minutes=np.array([ride.duration_minutes for ride in labelled]),
        tip_amount=np.array([ride.tip_amount for ride in labelled]),
        source=f"synthetic rides (producers.synthetic, seed {seed})",
    )


def upload_data(rows: int, seed: int) -> UploadData:
    labelled = synthetic.generate_uploads(seed, rows, start=SYNTHETIC_EPOCH)
    return UploadData(
        columns=UploadColumns.from_events([upload.event for upload in labelled]),
        fingerprints=[upload.event.content_fingerprint for upload in labelled],
        nsfw=np.array([upload.nsfw for upload in labelled]),
        violent=np.array([upload.violent for upload in labelled]),
        copied=np.array([upload.copyright_source is not None for upload in labelled]),
        source=f"synthetic uploads (producers.synthetic, seed {seed})",
    )


def train_duration(data: RideData, out_dir: Path, seed: int) -> Manifest:
    split = Split.of(len(data.columns), seed)
    truth = data.duration_minutes
    model = DurationRegressor(alpha=3.0).fit(data.columns.take(split.train), truth[split.train])
    predicted = model.predict(data.columns.take(split.held_out))
    return _save(
        model,
        out_dir,
        name="duration",
        features=RIDE_FEATURES,
        metrics=regression_metrics(truth[split.held_out], predicted, truth[split.train]),
        source=data.source,
        split=split,
        seed=seed,
    )


def train_tip(data: RideData, out_dir: Path, seed: int) -> Manifest:
    split = Split.of(len(data.columns), seed)
    truth = data.tip_amount
    model = TipRegressor(alpha=3.0).fit(data.columns.take(split.train), truth[split.train])
    predicted = model.predict(data.columns.take(split.held_out))
    return _save(
        model,
        out_dir,
        name="tip",
        features=RIDE_FEATURES,
        metrics=regression_metrics(truth[split.held_out], predicted, truth[split.train]),
        source=data.source,
        split=split,
        seed=seed,
    )


def build_copyright(data: UploadData, out_dir: Path, seed: int) -> Manifest:
    """Nothing to fit: the index is the registry; uploads only measure how well it separates."""
    registry = synthetic.protected_fingerprints()
    index = CopyrightIndex(registry)
    scores = index.lookup(data.fingerprints).score
    copied = data.copied.astype(np.float64)
    return save_artifact(
        index,
        out_dir,
        name="copyright",
        features=[f"content_fingerprint (64-bit; match within {index.threshold_bits} bits)"],
        metrics=classifier_metrics(copied, scores, copied),
        data_source=f"protected_fingerprints() registry; scored on {data.source}",
        training_rows=len(registry),
        held_out_rows=len(data.fingerprints),
        seed=seed,
    )


def train_flag(name: str, labels: Array, data: UploadData, out_dir: Path, seed: int) -> Manifest:
    split = Split.of(len(data.columns), seed)
    model = TextFlagClassifier().fit(data.columns.take(split.train), labels[split.train])
    probability = model.predict_proba(data.columns.take(split.held_out))
    return _save(
        model,
        out_dir,
        name=name,
        features=UPLOAD_FEATURES,
        metrics=classifier_metrics(labels[split.held_out], probability, labels[split.train]),
        source=data.source,
        split=split,
        seed=seed,
    )


def _save(
    model: object,
    out_dir: Path,
    *,
    name: str,
    features: list[str],
    metrics: list[Any],
    source: str,
    split: Split,
    seed: int,
) -> Manifest:
    manifest = save_artifact(
        model,
        out_dir,
        name=name,
        features=features,
        metrics=metrics,
        data_source=source,
        training_rows=len(split.train),
        held_out_rows=len(split.held_out),
        seed=seed,
    )
    headline = manifest.headline
    if headline is not None:
        log.info(
            "trained %s: %s %.4g (baseline %.4g)",
            manifest.version,
            headline.name,
            headline.value,
            headline.baseline,
        )
    return manifest
