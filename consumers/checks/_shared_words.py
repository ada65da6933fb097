"""One TF-IDF transform per batch for every text model whose fitted vectorizer is the same.

The nsfw and violence models are trained on the same uploads, so their vectorizers come out
identical (settings, vocabulary and idf). Run in one process (co-located checks), each would
otherwise tokenise every upload of a batch again: ~20 µs an upload, as much as the rest of the
model. Models whose vectorizers differ in anything get a transform of their own.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np


class SharedWords:
    """A fitted vectorizer's transform that remembers its last batch.

    Pure: the same texts give the same matrix, so returning the remembered one is exact. The
    matrix is shared between models and must not be changed by them.
    """

    def __init__(self, vectorizer: Any) -> None:
        self._vectorizer = vectorizer
        self._last: tuple[tuple[str, ...], Any] | None = None

    def transform(self, texts: Sequence[str]) -> Any:
        """The vectorizer's ``transform(texts)``, computed once for consecutive equal batches."""
        key = tuple(texts)
        last = self._last  # one read: another thread may replace it meanwhile
        if last is not None and last[0] == key:
            return last[1]
        words = self._vectorizer.transform(key)
        self._last = (key, words)
        return words


_shared: weakref.WeakValueDictionary[str, SharedWords] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def shared_words(vectorizer: Any) -> SharedWords:
    """The process's ``SharedWords`` for vectorizers equal to ``vectorizer``: made on first use,
    dropped once no loaded model holds it (a reloaded model with new words gets its own)."""
    key = fingerprint(vectorizer)
    with _lock:
        found = _shared.get(key)
        if found is None:
            found = SharedWords(vectorizer)
            _shared[key] = found
        return found


def fingerprint(vectorizer: Any) -> str:
    """sha256 of what a fitted TF-IDF vectorizer's ``transform`` depends on: its class, its
    settings, its vocabulary and its idf weights. A callable setting (a custom tokenizer) shows
    in the settings as its address, so such vectorizers are never taken for one another."""
    digest = hashlib.sha256()
    kind = type(vectorizer)
    digest.update(f"{kind.__module__}.{kind.__qualname__}\n".encode())
    digest.update(repr(sorted(vectorizer.get_params().items())).encode())
    for term, column in sorted(vectorizer.vocabulary_.items()):
        digest.update(f"\n{term}\0{column}".encode())
    idf = getattr(vectorizer, "idf_", None)
    if idf is not None:
        digest.update(np.ascontiguousarray(idf, dtype=np.float64).tobytes())
    return digest.hexdigest()
