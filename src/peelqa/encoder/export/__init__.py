"""Build time only: exporting the model to ONNX (imports torch, transformers and onnx).

`export_encoder` writes the folder that `peelqa.encoder.onnx.OnnxEmbedder` serves from: the
traced graph simplified bit for bit (`simplification`), its int8 copy for questions
(`quantization`), the tokenizer and `encoder.json`. Serving never imports this package.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from peelqa.encoder.base import packaged_model_dir
from peelqa.encoder.export.quantization import quantize
from peelqa.encoder.export.simplification import simplify
from peelqa.encoder.onnx import (
    DISABLED_OPTIMIZERS,
    EXPORT_VERSION,
    INT8_FILE,
    META_FILE,
    ONNX_FILE,
    OPSET,
    TOKENIZER_FILE,
    reusable_export,
    source_fingerprint,
)


def export_encoder(
    *, out_dir: Path, model_id: str, model_dir: Path | None = None, reuse: Path | None = None
) -> None:
    """Write model.onnx, tokenizer.json and encoder.json into `out_dir`.

    With `reuse` (an earlier export of the same model, e.g. the generation in service) the files
    are hard-linked from there instead of exported again, which saves the torch import.
    """
    src = model_dir or packaged_model_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    if reuse is not None and reusable_export(reuse, model_id=model_id, model_dir=src):
        for name in (ONNX_FILE, INT8_FILE, TOKENIZER_FILE, META_FILE):
            _link_or_copy(reuse / name, out_dir / name)
        return
    traced = out_dir / f"traced.{ONNX_FILE}"
    meta = _export_with_torch(src, traced)
    simplify(traced, out_dir / ONNX_FILE, disabled_optimizers=DISABLED_OPTIMIZERS)
    traced.unlink()
    quantize(out_dir / ONNX_FILE, out_dir / INT8_FILE)  # the question encoder
    shutil.copyfile(src / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    meta.update(
        export_version=EXPORT_VERSION, model=model_id, opset=OPSET, **source_fingerprint(src)
    )
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2))


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system: a copy is slower but as good
        shutil.copyfile(src, dst)


def _export_with_torch(model_dir: Path, onnx_path: Path) -> dict[str, Any]:
    """Trace the transformer (without pooling) to ONNX; pooling is done in numpy at run time."""
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # untyped upstream
    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class Hidden(torch.nn.Module):
        # Keyword arguments: BertModel's positional order changed between transformers releases.
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    example = torch.ones((2, 8), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python conditionals on shapes; with dynamic batch and sequence
        # axes the graph is checked against sentence-transformers by the tests instead.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Hidden(),
            (example, example, torch.zeros_like(example)),
            str(onnx_path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]},
            opset_version=OPSET,
            dynamo=False,
        )
    max_len = _max_seq_length(model_dir, int(model.config.max_position_embeddings))
    return {"dim": int(model.config.hidden_size), "max_seq_length": max_len}


def _max_seq_length(model_dir: Path, limit: int) -> int:
    """sentence-transformers truncates at its own max_seq_length (256 for MiniLM), not at 512."""
    try:
        cfg = json.loads((model_dir / "sentence_bert_config.json").read_text())
        return min(int(cfg["max_seq_length"]), limit)
    except (OSError, ValueError, KeyError):
        return limit
