"""Simplify the exported encoder graph without changing a single output bit.

The TorchScript export computes every reshape's target at run time from the input's shape
(Shape, Gather, Unsqueeze, Concat: ~30 small kernels per layer) and guards each attention
softmax against rows where every key is masked (IsNaN, Where). ONNX Runtime runs each of those
kernels on every call; for one question they were ~8% of the int8 encoder's time, ~4% per
question in a batch of 8.

- A reshape target becomes a constant: 0 where a dimension is copied from the input, the number
  where it is fixed (heads, head size), -1 for the one dimension left.
- The NaN guard goes: a row of the attention is all masked only for a text without a token,
  and every text has at least [CLS] and [SEP].
- Nodes whose outputs nothing uses are dropped.

The targets are read off the graph itself, run on probe shapes, not assumed from BERT's layout.
The result is kept only if it gives exactly the same outputs as the original on other shapes
and padded batches; otherwise the original graph is used unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# (batch, tokens) of the runs that read the reshape targets off the graph; the same dimension
# must vary across them for a copied dimension to be told from a fixed one.
PROBE_SHAPES = [(2, 5), (3, 7), (1, 11)]
# Different shapes, with padding, on which the simplified graph must match the original.
CHECK_SHAPES = [(1, 3), (4, 9), (3, 26)]


def simplify(src: Path, out: Path, *, disabled_optimizers: Sequence[str] = ()) -> int:
    """Write the simplified graph of `src` to `out`; returns the nodes removed (0 when the
    simplified graph did not reproduce the original and `src` was copied as it is).

    `disabled_optimizers`: those of the sessions that will run the graph, so that it is checked
    as it will be optimised.
    """
    import onnx

    model = onnx.load(str(src))
    before = len(model.graph.node)
    simpler = onnx.ModelProto()
    simpler.CopyFrom(model)
    _static_reshapes(simpler)
    _drop_nan_guards(simpler)
    drop_unused(simpler)
    if not _same_outputs(model, simpler, disabled_optimizers):
        onnx.save(model, str(out))
        return 0
    onnx.save(simpler, str(out))
    return before - len(simpler.graph.node)


def _static_reshapes(model: Any) -> None:
    from onnx import numpy_helper

    graph = model.graph
    fixed = {i.name for i in graph.initializer} | {
        n.output[0] for n in graph.node if n.op_type == "Constant"
    }
    computed = [n for n in graph.node if n.op_type == "Reshape" and n.input[1] not in fixed]
    if not computed:
        return
    names = sorted({name for n in computed for name in n.input})
    probes = _values(model, names, [_inputs(b, t, padded=False) for b, t in PROBE_SHAPES])
    for k, node in enumerate(computed):
        source, target = node.input
        shapes = [p[source].shape for p in probes]
        wanted = [[int(x) for x in p[target]] for p in probes]
        dims: list[int] = []
        for d in range(len(wanted[0])):
            seen = [w[d] for w in wanted]
            if len(set(seen)) == 1:
                dims.append(seen[0])
            elif all(d < len(s) and s[d] == v for s, v in zip(shapes, seen, strict=True)):
                dims.append(0)  # Reshape's allowzero=0: 0 copies the input's dimension
            else:
                dims.append(-1)
        if dims.count(-1) > 1 or any(a.name == "allowzero" and a.i for a in node.attribute):
            continue
        name = f"simplified_shape_{k}"
        graph.initializer.append(numpy_helper.from_array(np.array(dims, dtype=np.int64), name))
        node.input[1] = name


def _drop_nan_guards(model: Any) -> None:
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    replaced: dict[str, str] = {}
    for node in graph.node:
        if node.op_type != "Where":
            continue
        test = producer.get(node.input[0])
        if test is None or test.op_type != "IsNaN":
            continue
        guarded = test.input[0]
        source = producer.get(guarded)
        if source is not None and source.op_type == "Softmax" and node.input[2] == guarded:
            replaced[node.output[0]] = guarded
    for node in graph.node:
        for j, name in enumerate(node.input):
            node.input[j] = replaced.get(name, name)


def drop_unused(model: Any) -> None:
    """Drop the nodes and initializers that no graph output depends on."""
    graph = model.graph
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    inits = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def _inputs(batch: int, tokens: int, *, padded: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch * 100 + tokens)
    ids = rng.integers(1000, 29000, size=(batch, tokens), dtype=np.int64)
    ids[:, 0], mask = 101, np.ones_like(ids)
    if padded:  # each text one token shorter than the one before, down to [CLS] [SEP]
        for row in range(batch):
            length = max(2, tokens - row)
            ids[row, length - 1], ids[row, length:], mask[row, length:] = 102, 0, 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _session(model: bytes, disabled_optimizers: Sequence[str] | None = None) -> Any:
    """A session of the serialised `model` (86 MB in fp32: serialised once per graph, not per
    session): optimised as in serving but for `disabled_optimizers`, or with no optimisation at
    all when that is None."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if disabled_optimizers is None:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(
        model,
        sess_options=opts,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(disabled_optimizers or []),
    )


def _values(
    model: Any, names: list[str], feeds: list[dict[str, np.ndarray]]
) -> list[dict[str, Any]]:
    """The values of the graph's inner tensors `names` for each of `feeds` (one session)."""
    import onnx
    from onnx import helper

    typed = onnx.shape_inference.infer_shapes(model).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*typed.value_info, *typed.input]}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(helper.make_tensor_value_info(n, types[n], None) for n in names)
    session = _session(probe.SerializeToString(), None)
    return [dict(zip(names, session.run(names, feed), strict=True)) for feed in feeds]


def _same_outputs(a: Any, b: Any, disabled_optimizers: Sequence[str]) -> bool:
    """Bit for bit the same outputs, both as the graphs are written and as they are optimised."""
    graphs = [a.SerializeToString(), b.SerializeToString()]
    for disabled in (None, disabled_optimizers):
        try:
            sa, sb = (_session(g, disabled) for g in graphs)
            for batch, tokens in CHECK_SHAPES:
                feed = _inputs(batch, tokens, padded=True)
                for x, y in zip(sa.run(None, feed), sb.run(None, feed), strict=True):
                    if x.shape != y.shape or not np.array_equal(x, y):
                        return False
        except Exception:  # e.g. a reshape target that only held for the probe shapes
            return False
    return True
