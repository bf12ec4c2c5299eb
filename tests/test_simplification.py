"""The exported graph is simplified only where that changes no output bit."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from peelqa.encoder.base import packaged_model_dir
from peelqa.encoder.export import _export_with_torch
from peelqa.encoder.export.simplification import simplify
from peelqa.encoder.onnx import DISABLED_OPTIMIZERS, OnnxEmbedder
from peelqa.runtime import Components

QUESTIONS = [
    "What grade did the force get?",
    "How well does Northamptonshire Police tackle serious and organised crime?",
    "THRIVE",
    "",
]


def _run(path: Path, feed: dict[str, np.ndarray]) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(
        str(path), opts, ["CPUExecutionProvider"], disabled_optimizers=DISABLED_OPTIMIZERS
    )
    out: np.ndarray = session.run(None, feed)[0]
    return out


def test_simplified_export_computes_exactly_what_was_traced(
    components: Components, tmp_path: Path
) -> None:
    traced, simple = tmp_path / "traced.onnx", tmp_path / "model.onnx"
    _export_with_torch(packaged_model_dir(), traced)
    removed = simplify(traced, simple, disabled_optimizers=DISABLED_OPTIMIZERS)
    assert removed >= 150  # ~30 shape kernels per layer, and the guards

    graph = onnx.load(str(simple)).graph
    fixed = {i.name for i in graph.initializer}
    assert not [n for n in graph.node if n.op_type == "IsNaN"]
    # Every reshape of the layers (Q, K, V into heads, K for its product, heads back) has a
    # constant target.
    layers = [n for n in graph.node if n.op_type == "Reshape" and "/encoder/" in n.name]
    assert len(layers) == 6 * 5 and all(n.input[1] in fixed for n in layers)

    # Real questions, padded together as the encoder pads a run.
    assert isinstance(components.embedder, OnnxEmbedder)  # the served int8 encoder
    tokenizer = components.embedder._tokenizer
    tokens = [e.ids for e in tokenizer.encode_batch(QUESTIONS)]
    ids = np.zeros((len(tokens), max(map(len, tokens))), dtype=np.int64)
    for row, t in enumerate(tokens):
        ids[row, : len(t)] = t
    feed = {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64)}
    feed["token_type_ids"] = np.zeros_like(ids)
    assert np.array_equal(_run(simple, feed), _run(traced, feed))
    for row in range(len(tokens)):  # and each alone
        alone = {k: v[row : row + 1, : len(tokens[row])] for k, v in feed.items()}
        assert np.array_equal(_run(simple, alone), _run(traced, alone))


def test_a_graph_whose_nan_guard_fires_is_kept_as_it_is(tmp_path: Path) -> None:
    """The guard goes only because no text is without tokens; in a graph where it does turn
    NaN into 0 for the check's inputs, the simplified graph differs and is not used."""
    ints = ["input_ids", "attention_mask", "token_type_ids"]
    nodes = [
        # token_type_ids are all 0: log 0 = -inf in every column, so the softmax is NaN.
        helper.make_node("Cast", ["token_type_ids"], ["t"], to=TensorProto.FLOAT),
        helper.make_node("Log", ["t"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
        helper.make_node("IsNaN", ["p"], ["nan"]),
        helper.make_node("Where", ["nan", "zero", "p"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "guarded",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["b", "s"]) for n in ints],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["b", "s"])],
        [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])],
    )
    src, out = tmp_path / "guarded.onnx", tmp_path / "out.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(src))

    assert simplify(src, out) == 0
    assert [n.op_type for n in onnx.load(str(out)).graph.node] == [n.op_type for n in nodes]
    ids = np.ones((2, 3), dtype=np.int64)
    result = _run(out, {"input_ids": ids, "attention_mask": ids, "token_type_ids": ids * 0})
    assert np.array_equal(result, np.zeros((2, 3), dtype=np.float32))
