"""The adapter: the question's vector moved towards the sentences that answer questions like
it. The encoder (all-MiniLM-L6-v2) was trained on other text than inspection reports; a
low-rank map fitted on the tuning questions of the development corpus (`peelqa train`) learns
how their questions are answered ("how many officers" by "the force has 1,240 officers").
Only the question's vector moves, so an index need not be rebuilt when the map is refitted.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


class AdapterMismatch(Exception):
    """The stored weights do not fill the adapter's shape."""


def _pack(a: npt.NDArray[np.float32]) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def _unpack(text: str, shape: tuple[int, int]) -> npt.NDArray[np.float32]:
    try:
        flat = np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4")
    except (binascii.Error, ValueError) as e:
        raise AdapterMismatch(f"the adapter's weights are not base64 float32: {e}") from e
    if flat.size != shape[0] * shape[1]:
        raise AdapterMismatch(f"the adapter's weights do not fill its shape {shape}; refit it")
    return flat.reshape(shape).astype(np.float32)


@dataclass
class Adapter:
    """The question's vector moved by a learned low-rank map: v + up @ (down @ v), normalised.
    With rank 0 it is the identity (what features are collected with before the first fit).
    The weights are stored as base64 of little-endian float32 (a JSON list of 24,000 numbers
    is five times the size and slow to read)."""

    dim: int
    rank: int
    down: str  # rank x dim
    up: str  # dim x rank
    # The adapted cosine a sentence must reach to answer, null + toward @ (the adapted
    # question): fitted with the unanswerable questions, which put the softmax's weight there.
    null: float = 1.0
    toward: str = ""  # dim

    def __post_init__(self) -> None:
        self._down = _unpack(self.down, (self.rank, self.dim))
        self._up = _unpack(self.up, (self.dim, self.rank))
        self._toward = _unpack(self.toward, (1, self.dim if self.toward else 0))[0]

    @classmethod
    def of(
        cls,
        down: npt.NDArray[np.float32],
        up: npt.NDArray[np.float32],
        *,
        null: float,
        toward: npt.NDArray[np.float32],
    ) -> Adapter:
        rank, dim = down.shape
        return cls(
            dim=dim,
            rank=rank,
            down=_pack(down),
            up=_pack(up),
            null=null,
            toward=_pack(toward.reshape(1, dim)),
        )

    @classmethod
    def identity(cls, dim: int = 0) -> Adapter:
        return cls(dim=dim, rank=0, down="", up="")

    def apply(self, vec: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if self.rank == 0 or vec.shape[-1] != self.dim:
            # Vectors of another size (an encoder it was not fitted for): nothing to move.
            return vec
        moved = vec + self._up @ (self._down @ vec)
        norm = float(np.linalg.norm(moved))
        out: npt.NDArray[np.float32] = (moved / norm if norm > 0 else moved).astype(np.float32)
        return out

    def bar(self, adapted: npt.NDArray[np.float32]) -> float:
        """The cosine a sentence must reach to answer this (adapted) question."""
        if self.rank == 0 or adapted.shape[-1] != self.dim or not len(self._toward):
            return self.null
        return self.null + float(self._toward @ adapted)
