"""Fitted arrays as they are stored in the answer model's JSON file: base64 of little-endian
numbers (float32 unless a tree's thresholds need float64, or its nodes integers). A JSON list
of 24,000 numbers is five times the size and slow to read."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import numpy as np
import numpy.typing as npt


class WeightsMismatch(Exception):
    """Stored weights that are not packed arrays, or do not fill their shape."""


def pack(a: npt.ArrayLike, dtype: str = "<f4") -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode("ascii")


def unpack(text: str, shape: tuple[int, ...], what: str, dtype: str = "<f4") -> npt.NDArray[Any]:
    """The array `pack` stored; `dtype` as it was packed (float32 unless said)."""
    try:
        flat = np.frombuffer(base64.b64decode(text, validate=True), dtype=dtype)
    except (binascii.Error, ValueError) as e:
        raise WeightsMismatch(f"the {what}'s weights are not base64 {dtype}: {e}") from e
    if flat.size != math.prod(shape):
        raise WeightsMismatch(f"the {what}'s weights do not fill its shape {shape}")
    return flat.reshape(shape).astype(flat.dtype.newbyteorder("="))
