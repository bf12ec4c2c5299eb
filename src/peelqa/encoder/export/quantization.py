"""The int8 question encoder: the fp32 graph with its matrix products in int8, one scale per token.

ONNX Runtime's own dynamic quantisation (`quantize_dynamic`) gives each activation tensor one
scale, taken over the whole batch, padding included. A question's vector then depends on the
other questions that share its encoder batch: with 87 dev, held-out and blind questions each
encoded in 3 random batches of 16, 19 of the 261 answers differed from the question's answer
alone (cos to the vector alone down to 0.963). Here every token row gets its own scale, so a
question encodes the same alone or in any batch (bit for bit), and closer to fp32 (cos >= 0.987,
mean 0.997; per tensor: 0.985, 0.994). It costs ~20% more encoder time than per-tensor scales.

Weights are int8 with one symmetric scale per output column; activations are uint8 around 128
with one symmetric scale per token; the word embeddings are float16. Passages are never encoded
with this graph: the index is built in fp32, so the rounding falls on one side of each
comparison only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from peelqa.encoder.export.simplification import drop_unused

# The word-embedding table (30,522 x 384) is stored in float16: 23 MB less in every serving
# process. Not int8 (one scale per word, 35 MB less): that moved a held-out question that the
# report does not answer across the answer threshold. The position and token-type tables are
# too small to matter.
MIN_TABLE_ROWS = 1000
# Blocked QuantizeLinear (one scale per block of a row; here the block is the whole row) is
# opset 21.
OPSET = 21
_EPS = 1e-10  # an all-zero row still gets a usable scale


def quantize(fp32: Path, out: Path) -> int:
    """Write the per-token int8 graph of `fp32` to `out`; returns the weights replaced (the
    matrix products' and the word embeddings')."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper, version_converter

    model = version_converter.convert_version(onnx.load(str(fp32)), OPSET)
    graph = model.graph
    weights = {
        i.name: numpy_helper.to_array(i).astype(np.float32)
        for i in graph.initializer
        if len(i.dims) == 2
    }
    constants: list[Any] = []

    def constant(name: str, value: Any) -> str:
        constants.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    eps = constant("q_eps", np.float32(_EPS))
    inv127 = constant("q_inv127", np.float32(1 / 127))
    zero = constant("q_zero", np.float32(0))
    mid = constant("q_mid", np.float32(128))
    one = constant("q_one", np.float32(1))
    mid_u8 = constant("q_mid_u8", np.uint8(128))
    last_axis = constant("q_last_axis", np.array([-1], dtype=np.int64))
    zp = "q_zero_point"

    nodes: list[Any] = []
    quantized: dict[str, tuple[str, str]] = {}  # input -> (its per-token scale, its uint8 form)
    replaced: set[str] = set()
    for node in graph.node:
        table = weights.get(node.input[0]) if node.op_type == "Gather" else None
        if table is not None and table.shape[0] >= MIN_TABLE_ROWS:
            nodes += _half_lookup(node, table, constant)
            replaced.add(node.input[0])
            continue
        if node.op_type != "MatMul" or node.input[1] not in weights:
            nodes.append(node)
            continue
        a, w_name, y = node.input[0], node.input[1], node.output[0]
        w = weights[w_name]
        if a not in quantized:  # Q, K and V share their input: quantise it once
            p = f"q{len(quantized)}_"
            # scale = max |row| / 127 (one per token, shape [batch, tokens, 1])
            nodes += [
                helper.make_node("Abs", [a], [p + "abs"], name=p + "abs"),
                helper.make_node(
                    "ReduceMax", [p + "abs", last_axis], [p + "max"], keepdims=1, name=p + "max"
                ),
                helper.make_node("Max", [p + "max", eps], [p + "max1"], name=p + "max1"),
                helper.make_node("Mul", [p + "max1", inv127], [p + "scale"], name=p + "scale"),
            ]
            if not quantized:
                # Zero point 128 in the scale's shape, as blocked QuantizeLinear requires; every
                # scale has the same shape, so it is made once.
                nodes += [
                    helper.make_node("Mul", [p + "scale", zero], ["q_z0"], name="q_z0"),
                    helper.make_node("Add", ["q_z0", mid], ["q_z1"], name="q_z1"),
                    helper.make_node("Cast", ["q_z1"], [zp], to=TensorProto.UINT8, name=zp),
                ]
            nodes.append(
                helper.make_node(
                    "QuantizeLinear",
                    [a, p + "scale", zp],
                    [p + "u8"],
                    axis=-1,
                    block_size=w.shape[0],
                    name=p + "u8",
                )
            )
            quantized[a] = (p + "scale", p + "u8")
        scale, a_u8 = quantized[a]
        col_scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127
        w_i8 = np.clip(np.round(w / col_scale), -127, 127).astype(np.int8)
        p = f"{w_name}_q"
        nodes += [
            # (a_u8 - 128) @ w_i8 * col_scale, then * the row's scale.
            helper.make_node(
                "MatMulIntegerToFloat",
                [a_u8, constant(p + "i8", w_i8), one, constant(p + "scale", col_scale), mid_u8],
                [p + "y"],
                domain="com.microsoft",
                name=p + "mm",
            ),
            helper.make_node("Mul", [p + "y", scale], [y], name=p + "rows"),
        ]
        replaced.add(w_name)
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(constants)
    drop_unused(model)  # the fp32 weights that were replaced
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(out))
    return len(replaced)


def _half_lookup(node: Any, table: np.ndarray, constant: Callable[[str, Any], str]) -> list[Any]:
    """Gather(table, ids) as Cast(Gather(float16 table, ids), float)."""
    from onnx import TensorProto, helper

    p = f"{node.input[0]}_f16"
    half = constant(p, table.astype(np.float16))
    return [
        helper.make_node("Gather", [half, node.input[1]], [p + "_rows"], name=p + "_rows"),
        helper.make_node("Cast", [p + "_rows"], [node.output[0]], to=TensorProto.FLOAT, name=p),
    ]
