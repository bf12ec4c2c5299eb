"""What `--explain` prints: the question as read, the best candidates with their features and
probabilities, and why the engine answered or refused."""

from __future__ import annotations

import numpy as np

from peelqa.answering.engine import Analysis, Engine
from peelqa.answering.features import FEATURES

# The features worth a glance for each candidate (all are in the model; these say most).
SHOWN = (
    "dense",
    "full_dense",
    "chunk_dense",
    "adapted",
    "max_adapted",
    "lex_sentence",
    "lex_union",
    "chunk_bm25",
    "focus_missing",
)


def explain(engine: Engine, a: Analysis, *, top: int = 5) -> str:
    q = a.question
    lines = [
        f"question     {q.asked!r}",
        f"  read as    {q.text!r}",
        f"  encoder    {q.core_text!r}"
        + (f" (as asked: {q.encoder_text!r})" if q.encoder_text != q.core_text else ""),
        f"  expects    {q.expects.value}{' (yes/no)' if q.yes_no else ''}",
        f"  focus      {', '.join(q.focus) or '-'}",
        f"  names      {', '.join(q.names) or '-'}"
        + (f"; unknown to the reports: {', '.join(q.unknown_names)}" if q.unknown_names else ""),
        f"  reports    {', '.join(q.docs) if q.docs else 'all (not scoped)'}",
    ]
    if q.follow_up:
        lines.append(f"  follow-up of {q.context!r}")
    p = a.probabilities
    refs = engine.index.sentence_refs
    lines.append(f"candidates   {len(p)}")
    col = {n: i for i, n in enumerate(FEATURES)}
    for j in np.argsort(-p, kind="stable")[:top].tolist():
        row = int(a.candidates.rows[j])
        doc, section, _ = refs[row]
        shown = " ".join(f"{n}={a.features[j, col[n]]:.2f}" for n in SHOWN)
        lines.append(f"  p={p[j]:.3f} {doc}/{section}: {engine.features.text(row)[:110]!r}")
        lines.append(f"          {shown}")
    pull = engine.model.question.pulls(a.question_features)
    lines.append(
        f"answer probability {a.answer_probability:.3f} (threshold {engine.model.threshold:.3f})"
    )
    # Each feature's pull: how much the probability would fall were it at its mean.
    lines.append("  pulled by  " + ", ".join(f"{n} {v:+.3f}" for n, v in pull[:8]))
    lines.append(f"decision     {a.decision or '-'}")
    return "\n".join(lines)
