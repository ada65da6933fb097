"""The compare plots are real PNGs whose bars have the heights the figures say."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.plot import BAND_COLOURS, ROLE_COLOURS, SIZE, arms_png


def read_png(path: Path) -> npt.NDArray[np.uint8]:
    """An RGB PNG written by ``write_png`` (8-bit, filter 0 on every row) as an array."""
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunks[kind] = data[position + 8 : position + 8 + length]
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2)
    rows = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + 3 * width
    assert all(rows[y * stride] == 0 for y in range(height))
    pixels = np.frombuffer(rows, dtype=np.uint8).reshape(height, stride)[:, 1:]
    return pixels.reshape(height, width, 3)


def column_heights(image: npt.NDArray[np.uint8], colour: tuple[int, int, int]) -> list[int]:
    """Per image column, how many pixels have ``colour`` (0 columns left out)."""
    matches = np.all(image == np.asarray(colour, dtype=np.uint8), axis=2).sum(axis=0)
    return [int(n) for n in matches if n]


def test_arm_bars_stack_band_shares_and_mae_bars_scale_to_the_largest(tmp_path: Path) -> None:
    path = tmp_path / "arms.png"
    bands = [("live", {"long_ride": 30, "normal": 70}), ("canary", {"long_ride": 10, "normal": 10})]

    arms_png(bands, ["long_ride", "normal"], [("live", 4.0), ("canary", 2.0)], path)

    image = read_png(path)
    assert image.shape == (SIZE, SIZE, 3)
    left, right = image[:, : SIZE // 2], image[:, SIZE // 2 :]
    long_ride = column_heights(left, BAND_COLOURS[0])
    normal = column_heights(left, BAND_COLOURS[1])
    # each arm's bar: the long_ride share at the bottom, then normal
    live_long, canary_long = long_ride[0], long_ride[-1]
    assert abs(canary_long / live_long - (10 / 20) / (30 / 100)) < 0.02
    assert abs(normal[0] / live_long - 70 / 30) < 0.02
    live_mae = column_heights(right, ROLE_COLOURS["live"])
    canary_mae = column_heights(right, ROLE_COLOURS["canary"])
    assert abs(canary_mae[len(canary_mae) // 2] * 2 - live_mae[len(live_mae) // 2]) <= 1
