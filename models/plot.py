"""The ``models compare`` plots as PNGs, drawn with numpy and written with zlib: no plotting library.

matplotlib would pull in six packages (pillow, fonttools, kiwisolver...) for three simple pictures:
a live-vs-shadow scatter for regression checks, a confusion heat map for classification ones, and
the canary's arms side by side. The numbers themselves are in the tables printed beside them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
SIZE = 400
MARGIN = 20
WHITE, GREY, BLUE = (255, 255, 255), (190, 190, 190), (31, 119, 180)
ROLE_COLOURS = {"live": BLUE, "canary": (255, 127, 14), "shadow": (44, 160, 44)}
"""The colour of each arm's bars in ``arms_png`` (any other role is grey)."""
BAND_COLOURS = ((214, 39, 40), (255, 127, 14), (188, 189, 34), (44, 160, 44), (148, 103, 189))
"""Stacked band shares, bottom up in the order given: remove, review, low, clear (or flags)."""


def scatter_png(live: Sequence[float], shadow: Sequence[float], path: Path) -> None:
    """Each event at (live value, shadow value); the grey diagonal is where they agree."""
    image = _canvas()
    values = np.asarray([*live, *shadow], dtype=np.float64)
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    span = high - low or 1.0
    inner = SIZE - 2 * MARGIN - 1
    diagonal = np.arange(inner + 1)
    image[SIZE - 1 - MARGIN - diagonal, MARGIN + diagonal] = GREY
    xs = MARGIN + np.round((np.asarray(live) - low) / span * inner).astype(int)
    ys = SIZE - 1 - MARGIN - np.round((np.asarray(shadow) - low) / span * inner).astype(int)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            image[np.clip(ys + dy, 0, SIZE - 1), np.clip(xs + dx, 0, SIZE - 1)] = BLUE
    write_png(image, path)


def confusion_png(confusion: dict[tuple[str, str], int], labels: Sequence[str], path: Path) -> None:
    """Rows are the live band, columns the shadow band; darker is more events, green agrees."""
    image = _canvas()
    count = max(len(labels), 1)
    cell = (SIZE - 2 * MARGIN) // count
    most = max(confusion.values(), default=1)
    for row, live in enumerate(labels):
        for column, shadow in enumerate(labels):
            share = confusion.get((live, shadow), 0) / most
            fade = int(235 * (1 - share))
            colour = (fade, 200, fade) if row == column else (235, fade, fade)
            top, left = MARGIN + row * cell, MARGIN + column * cell
            image[top + 1 : top + cell - 1, left + 1 : left + cell - 1] = colour
    write_png(image, path)


def arms_png(
    bands: Sequence[tuple[str, dict[str, int]]],
    band_order: Sequence[str],
    errors: Sequence[tuple[str, float]],
    path: Path,
) -> None:
    """Left: per arm, a bar of its events' policy-band shares, stacked bottom up in
    ``band_order``. Right (if any outcomes): a bar per (arm, MAE), the tallest the largest MAE.

    Bars are framed in their arm's colour (live blue, canary orange, shadow green).
    """
    image = _canvas()
    half = SIZE // 2
    inner = SIZE - 2 * MARGIN
    bottom = SIZE - MARGIN
    panel = half - MARGIN - MARGIN // 2
    slot = panel // max(len(bands), 1)
    for index, (arm, counts) in enumerate(bands):
        left = MARGIN + index * slot
        events = sum(counts.values()) or 1
        top = bottom - 1  # inside the frame
        for band_index, band in enumerate(band_order):
            height = round(counts.get(band, 0) / events * (inner - 2))
            colour = BAND_COLOURS[band_index % len(BAND_COLOURS)]
            image[top - height : top, left + 3 : left + slot - 3] = colour
            top -= height
        _frame(
            image, left + 1, left + slot - 1, bottom - inner, bottom, ROLE_COLOURS.get(arm, GREY)
        )
    largest = max((mae for _, mae in errors), default=0.0) or 1.0
    slot = panel // max(len(errors), 1)
    for index, (arm, mae) in enumerate(errors):
        left = half + MARGIN // 2 + index * slot
        height = round(mae / largest * inner)
        image[bottom - height : bottom, left + 2 : left + slot - 2] = ROLE_COLOURS.get(arm, GREY)
    write_png(image, path)


def _frame(
    image: Image, left: int, right: int, top: int, bottom: int, colour: tuple[int, ...]
) -> None:
    image[top:bottom, left] = colour
    image[top:bottom, right - 1] = colour
    image[top, left:right] = colour
    image[bottom - 1, left:right] = colour


def write_png(image: Image, path: Path) -> None:
    """An RGB ``image`` (height x width x 3, uint8) as a PNG file."""
    height, width, _ = image.shape
    rows = b"".join(b"\x00" + image[y].tobytes() for y in range(height))  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _canvas() -> Any:
    return np.full((SIZE, SIZE, 3), WHITE, dtype=np.uint8)
