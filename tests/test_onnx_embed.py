"""The ONNX serving encoder: same vectors as sentence-transformers, exported with the index,
checked like the rest of it, and a serving path that never imports torch."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPORT

from peelqa.config import Settings
from peelqa.embed import SentenceTransformerEmbedder
from peelqa.index import IndexCorrupt, current_generation, load_index, read_manifest
from peelqa.onnx_embed import OnnxEmbedder
from peelqa.runtime import Components, build

TEXTS = [
    "What grade did the force get?",
    "x",
    "",
    "Ünïcode café — ‘quotes’ “here” and emoji 🚓",
    "THRIVE",
    # Past the 256-token limit: both must truncate at the same place.
    "How effective is the force at protecting those who are vulnerable from harm? " * 40,
]


def test_same_vectors_as_sentence_transformers(
    onnx_embedder: OnnxEmbedder, embedder: SentenceTransformerEmbedder
) -> None:
    assert (onnx_embedder.model_id, onnx_embedder.dim) == (embedder.model_id, embedder.dim)
    batch = onnx_embedder.encode(TEXTS)
    want = embedder.encode(TEXTS)
    assert batch.dtype == np.float32 and batch.shape == (len(TEXTS), 384)
    assert np.abs(batch - want).max() < 1e-5
    for i, t in enumerate(TEXTS):  # alone (no padding) as in a batch
        assert np.abs(onnx_embedder.encode([t])[0] - want[i]).max() < 1e-5
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert onnx_embedder.encode([]).shape == (0, 384)


def test_index_records_and_checksums_the_export(components: Components, tmp_path: Path) -> None:
    m = components.index.manifest
    assert m.encoder == "encoder" and components.index.encoder_dir is not None
    assert {"encoder/model.onnx", "encoder/tokenizer.json", "encoder/encoder.json"} <= set(m.files)
    meta = json.loads((components.index.encoder_dir / "encoder.json").read_text())
    assert meta["model"] == m.model and meta["max_seq_length"] == 256
    # A damaged export is refused like any other damaged index file.
    copy = tmp_path / "index"
    gen = current_generation(components.index.encoder_dir.parents[1])
    shutil.copytree(gen.parent, copy)
    onnx = current_generation(copy) / "encoder" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:1000])
    with pytest.raises(IndexCorrupt, match=r"encoder/model\.onnx"):
        load_index(copy)


def test_rebuild_reuses_the_export_without_torch(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(REPORT, corpus / REPORT.name)
    settings = Settings(corpus=corpus, index=tmp_path / "index")
    # A first build exports; the second (after the corpus changed) hard-links that export and
    # encodes with it, in a process that must never import torch.
    build(settings)
    first = current_generation(settings.index) / "encoder" / "model.onnx"
    inode = first.stat().st_ino
    (corpus / "extra.md").write_text("# Another report\n\nThe force was graded good.\n")
    code = (
        "import sys; from pathlib import Path; from peelqa.config import Settings; "
        "from peelqa.runtime import build; "
        f"s = Settings(corpus=Path({str(corpus)!r}), index=Path({str(settings.index)!r})); "
        "m, e = build(s); "
        "assert type(e).__name__ == 'OnnxEmbedder', e; "
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})
    m = read_manifest(settings.index)
    assert m.documents == 2 and m.encoder == "encoder"
    second = current_generation(settings.index) / "encoder" / "model.onnx"
    assert second != first and second.stat().st_ino == inode


def test_serving_path_never_imports_torch(main_settings: Settings, components: Components) -> None:
    code = (
        "import sys; from pathlib import Path; from peelqa.config import Settings; "
        "from peelqa.runtime import load_components; "
        f"c = load_components(Settings(corpus=Path({str(main_settings.corpus)!r}), "
        f"index=Path({str(main_settings.index)!r}))); "
        "r = c.engine.ask(question='What grade did the force get?', history=[]); "
        "assert r.citations[0].section == 'conclusion', r; "
        "assert type(c.embedder.inner).__name__ == 'OnnxEmbedder'; "
        "heavy = ('torch', 'transformers', 'sentence_transformers'); "
        "bad = [m for m in heavy if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})
