"""The five models: features, training, manifests, and verified loading of their artifacts.

``models.train`` builds them, ``models.store.ModelStore`` hands them to the checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamjury.lazy import lazy_exports

if TYPE_CHECKING:
    from models.manifest import Manifest
    from models.store import ModelSettings, ModelSource, ModelStore, ensure_trained, load_typed
    from models.train import MODEL_NAMES, train_all

__all__ = [
    "MODEL_NAMES",
    "Manifest",
    "ModelSettings",
    "ModelSource",
    "ModelStore",
    "ensure_trained",
    "load_typed",
    "train_all",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "MODEL_NAMES": "models.train",
        "Manifest": "models.manifest",
        "ModelSettings": "models.store",
        "ModelSource": "models.store",
        "ModelStore": "models.store",
        "ensure_trained": "models.store",
        "load_typed": "models.store",
        "train_all": "models.train",
    },
)
