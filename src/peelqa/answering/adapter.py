"""The adapter: the question's vector moved towards the sentences that answer questions like
it. The encoder (all-MiniLM-L6-v2) was trained on other text than inspection reports; a
low-rank map fitted on the tuning questions of the development corpus (`peelqa train`) learns
how their questions are answered ("how many officers" by "the force has 1,240 officers").
Only the question's vector moves, so an index need not be rebuilt when the map is refitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from peelqa.answering.weights import pack, unpack


@dataclass
class Adapter:
    """The question's vector moved by a learned low-rank map: v + up @ (down @ v), normalised.
    With rank 0 it is the identity (what features are collected with before the first fit).
    The weights are stored packed (answering/weights.py)."""

    dim: int
    rank: int
    down: str  # rank x dim
    up: str  # dim x rank
    # The adapted cosine a sentence must reach to answer, null + toward @ (the adapted
    # question): fitted with the unanswerable questions, which put the softmax's weight there.
    null: float = 1.0
    toward: str = ""  # dim

    def __post_init__(self) -> None:
        self._down = unpack(self.down, (self.rank, self.dim), "adapter")
        self._up = unpack(self.up, (self.dim, self.rank), "adapter")
        self._toward = unpack(self.toward, (1, self.dim if self.toward else 0), "adapter")[0]

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
            down=pack(down),
            up=pack(up),
            null=null,
            toward=pack(toward.reshape(1, dim)),
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
