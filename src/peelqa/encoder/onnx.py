"""The serving encoder: the packaged MiniLM exported once to ONNX, run with ONNX Runtime.

Importing torch, transformers and sentence-transformers costs about 5 s, more than the whole
start-up budget; this path needs only onnxruntime, the Rust `tokenizers` package and numpy, and
gives the same vectors as `SentenceTransformerEmbedder` (within 1e-6 in fp32), so an index built
with either is valid for the other and the manifest's model id is the same.

Export happens at build time (`peelqa.encoder.export`, which does import torch) into the folder
``encoder/`` of the index generation, so it is swapped in, checksummed and refused when damaged
together with the rest of the index.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

from peelqa.encoder.base import Vectors, available_cores

ONNX_FILE = "model.onnx"
# The question encoder: the same graph with int8 matrix products (quantization.py).
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "encoder.json"
# Bump when the export changes (inputs, opset, pooling, quantisation), so that older exports are
# redone. 5: the int8 graph is quantised per token, its embeddings in float16 (quantization.py).
# 6: both graphs simplified (simplification.py).
EXPORT_VERSION = 6
# Opset 17 is the newest the TorchScript exporter handles for BERT without warnings of note,
# and every onnxruntime of the last three years runs it.
OPSET = 17
Precision = Literal["fp32", "int8"]
# At most 64 texts per run of the model: past that a run saves nothing more.
MAX_RUN = 64
# What one run of the model costs on top of its tokens, in tokens: a run's fixed work (reading
# the weights) against the work per padded token, as fitted by the bench (docs/performance.md).
# `runs` splits a batch where the padding saved is worth a new run.
RUN_COST_TOKENS = 15
# ORT's fused SkipLayerNormalization kernel is slower on CPUs like ours than the Add and
# LayerNormalization it replaces (docs/performance.md); without it the vectors stay within
# cos 0.999 of the fused ones.
DISABLED_OPTIMIZERS = ["SkipLayerNormFusion"]


def source_fingerprint(model_dir: Path) -> dict[str, Any]:
    """Cheap identity of the source weights (size and mtime), to tell a reusable export."""
    st = (model_dir / "model.safetensors").stat()
    return {"weights_size": st.st_size, "weights_mtime_ns": st.st_mtime_ns}


def reusable_export(path: Path, *, model_id: str, model_dir: Path) -> bool:
    """Whether `path` holds an export of this model, by this version of the exporter."""
    try:
        meta = json.loads((path / META_FILE).read_text())
    except (OSError, ValueError):
        return False
    want = {"export_version": EXPORT_VERSION, "model": model_id, **source_fingerprint(model_dir)}
    files = all((path / name).is_file() for name in (ONNX_FILE, INT8_FILE))
    return all(meta.get(k) == v for k, v in want.items()) and files


class OnnxEmbedder:
    """Mean-pooled, L2-normalised MiniLM vectors from an exported encoder folder.

    `precision` "int8" runs the quantised graph: for questions at serving time, never for the
    passages of an index.
    """

    def __init__(
        self, path: Path, *, threads: int | None = None, precision: Precision = "fp32"
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((path / META_FILE).read_text())
        self.model_id: str = meta["model"]
        self.dim: int = int(meta["dim"])
        self._tokenizer = Tokenizer.from_file(str(path / TOKENIZER_FILE))
        # tokenizer.json ships padded to a fixed 128; sentence-transformers pads each batch to
        # its longest text and truncates at max_seq_length: do the same.
        self._tokenizer.enable_truncation(max_length=int(meta["max_seq_length"]))
        self._tokenizer.no_padding()  # padded per run, in `_run`
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or available_cores()
        opts.inter_op_num_threads = 1
        # Spinning threads keep a core busy after each run; on two cores that core is wanted by
        # the request threads, so let them sleep.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Not "session.set_denormal_as_zero": it sped up the softmax of heavily padded batches,
        # but it sets the flush-to-zero mode of the calling thread for good (numpy and anything
        # else in that thread then lose subnormal floats), and with runs cut to similar lengths
        # its gain was within the noise.
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(path / (INT8_FILE if precision == "int8" else ONNX_FILE)),
            sess_options=opts,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=DISABLED_OPTIMIZERS,
        )

    def encode(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = [e.ids for e in self._tokenizer.encode_batch(texts)]
        # Shortest first, so that each run pads its texts to similar lengths.
        order = sorted(range(len(texts)), key=lambda i: len(tokens[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start, end in runs([len(tokens[i]) for i in order]):
            rows = order[start:end]
            out[rows] = self._run([tokens[i] for i in rows])
        return out

    def _run(self, tokens: list[list[int]]) -> Vectors:
        """One run of the model over texts padded to the longest of them."""
        ids = np.zeros((len(tokens), max(len(t) for t in tokens)), dtype=np.int64)
        for row, t in enumerate(tokens):
            ids[row, : len(t)] = t
        mask = (ids != 0).astype(np.int64)  # [PAD] is id 0 and only ever padding
        (hidden,) = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.ascontiguousarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)


def runs(lengths: list[int]) -> list[tuple[int, int]]:
    """Split texts sorted by token count into runs of the model, as cheaply as possible.

    One run of 32 questions of 6 to 18 tokens pads every one to 18: ~40% of the work is
    padding. Each extra run costs a fixed `RUN_COST_TOKENS`, so the split is chosen by dynamic
    programming over where runs end (at most `MAX_RUN` texts each): cost = fixed cost per run +
    texts x longest length.
    """
    n = len(lengths)
    best = [0.0] + [float("inf")] * n  # best[i]: cheapest way to encode the first i texts
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(max(0, end - MAX_RUN), end):
            cost = best[start] + RUN_COST_TOKENS + (end - start) * lengths[end - 1]
            if cost < best[end]:
                best[end], cut[end] = cost, start
    bounds: list[tuple[int, int]] = []
    end = n
    while end > 0:
        bounds.append((cut[end], end))
        end = cut[end]
    return bounds[::-1]
