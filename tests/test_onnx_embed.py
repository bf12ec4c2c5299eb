"""The ONNX serving encoder: same vectors as sentence-transformers, exported with the index,
checked like the rest of it, and a serving path that never imports torch."""

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from peelqa.config import Settings
from peelqa.encoder.export.quantization import quantize
from peelqa.encoder.onnx import MAX_RUN, RUN_COST_TOKENS, OnnxEmbedder, runs
from peelqa.encoder.sbert import SentenceTransformerEmbedder
from peelqa.index.store import IndexCorrupt, current_generation, load_index, read_manifest
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


@pytest.mark.slow
def test_rebuild_reuses_the_export_without_torch(corpus: Path, tmp_path: Path) -> None:
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


def test_int8_question_encoder_stays_close_to_fp32(components: Components) -> None:
    """Questions are encoded in int8 against fp32 passages; per-column weight scales and
    per-token activation scales keep every vector close (measured: cos >= 0.987, mean 0.997;
    per-tensor weights fell to cos 0.91 and lost held-out answers)."""
    assert components.index.encoder_dir is not None
    fp32 = OnnxEmbedder(components.index.encoder_dir)
    int8 = OnnxEmbedder(components.index.encoder_dir, precision="int8")
    report = [
        s.text[t.start : t.end]
        for d in components.index.documents
        for s in d.sections
        for t in s.sentences
    ][:80]
    texts = [*TEXTS, *report]
    cos = (fp32.encode(texts) * int8.encode(texts)).sum(axis=1)
    assert cos.min() > 0.97 and cos.mean() > 0.993, (cos.min(), cos.mean())
    # The same nearest passage for the report's own sentences.
    passages = fp32.encode(texts[len(TEXTS) :])
    queries = int8.encode(texts[len(TEXTS) :])
    assert ((queries @ passages.T).argmax(axis=1) == np.arange(len(passages))).all()


def test_int8_question_vector_does_not_depend_on_its_batch(components: Components) -> None:
    """The server batches concurrent questions: a question's vector, and so its answer, must
    not change with the questions it happens to share a run with (ONNX Runtime's per-tensor
    dynamic quantisation moved vectors to cos 0.963 and changed 7% of answers)."""
    assert components.index.encoder_dir is not None
    int8 = OnnxEmbedder(components.index.encoder_dir, precision="int8")
    question = "What is HMIC concerned about in how crime is allocated?"
    alone = int8.encode([question])[0]
    for company in (["x"], TEXTS, ["How effective is the force at reducing crime?"] * 40):
        together = int8.encode([*company, question])[-1]
        assert np.array_equal(together, alone)


def test_every_weight_product_is_quantised(components: Components, tmp_path: Path) -> None:
    import onnx

    assert components.index.encoder_dir is not None
    fp32 = components.index.encoder_dir / "model.onnx"
    # 6 layers x (Q, K, V, out, 2 feed-forward), and the word embeddings.
    assert quantize(fp32, tmp_path / "q.onnx") == 37
    ops = [n.op_type for n in onnx.load(str(tmp_path / "q.onnx")).graph.node]
    assert ops.count("MatMulIntegerToFloat") == 36
    # Only the attention products of two activations stay in fp32.
    assert ops.count("MatMul") == 12 and ops.count("QuantizeLinear") == 24


@pytest.mark.slow
def test_an_export_from_an_older_exporter_is_redone(corpus: Path, tmp_path: Path) -> None:
    """An index whose export lacks the int8 copy (exporter version 1) is stale for serving."""
    from peelqa.runtime import ensure_index

    settings = Settings(corpus=corpus, index=tmp_path / "index")
    build(settings)
    enc = current_generation(settings.index) / "encoder"
    meta = json.loads((enc / "encoder.json").read_text())
    # An older generation: no int8 file, exporter version 1 (checksums rewritten to match, so
    # that this is an old index, not a damaged one).
    (enc / "model.int8.onnx").unlink()
    (enc / "encoder.json").write_text(json.dumps(meta | {"export_version": 1}))
    _rewrite_checksums(settings.index)
    assert ensure_index(settings) is not None  # rebuilt
    new = current_generation(settings.index) / "encoder"
    assert new != enc and (new / "model.int8.onnx").is_file()
    assert ensure_index(settings) is None  # and fresh from then on


def _rewrite_checksums(index_dir: Path) -> None:
    import hashlib

    gen = current_generation(index_dir)
    raw = json.loads((gen / "manifest.json").read_text())
    raw["files"] = {
        name: hashlib.sha256((gen / name).read_bytes()).hexdigest()
        for name in raw["files"]
        if (gen / name).is_file()
    }
    (gen / "manifest.json").write_text(json.dumps(raw))


def test_runs_split_where_padding_costs_more_than_a_run() -> None:
    def padded(lengths: list[int], bounds: list[tuple[int, int]]) -> int:
        return sum((end - start) * lengths[end - 1] for start, end in bounds)

    # 20 short questions and 12 long ones: padding the short ones to 18 costs 240 tokens, far
    # more than a second run.
    mixed = [6] * 20 + [18] * 12
    assert runs(mixed) == [(0, 20), (20, 32)]
    assert runs([9] * 32) == [(0, 32)]  # nothing to save: one run
    assert runs([9, 10]) == [(0, 2)]  # one token of padding is cheaper than a run
    assert runs([]) == []
    many = sorted([5 + i % 40 for i in range(300)])
    bounds = runs(many)
    # Contiguous, covering every text once, never over MAX_RUN, and cheaper than fixed runs.
    assert bounds[0][0] == 0 and bounds[-1][1] == len(many)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert all(0 < end - start <= MAX_RUN for start, end in bounds)
    fixed = [(i, min(i + MAX_RUN, len(many))) for i in range(0, len(many), MAX_RUN)]
    cost = padded(many, bounds) + RUN_COST_TOKENS * len(bounds)
    assert cost < padded(many, fixed) + RUN_COST_TOKENS * len(fixed)


def test_split_runs_give_the_same_vectors(onnx_embedder: OnnxEmbedder) -> None:
    # Short and long texts together are encoded in several runs; each vector is as if alone.
    long = "How effective is the force at protecting those who are vulnerable from harm? " * 3
    texts = ["THRIVE?"] * 12 + [long] * 4 + ["What grade did the force get?"] * 12
    together = onnx_embedder.encode(texts)
    for i, t in enumerate(texts):
        assert np.abs(together[i] - onnx_embedder.encode([t])[0]).max() < 1e-5
