"""In-process costs of peelqa, measured in a fresh interpreter: started by the bench's
studies (bench/studies.py), one process per figure, so that nothing one measurement loaded or
remembered (imports, the vocabulary file, memos) leaks into the next. Prints one JSON line.

    python -m bench.probe load --corpus DIR --index DIR
    python -m bench.probe engine --corpus DIR --index DIR [--rounds 30]

`load`: `peelqa.runtime.load_components` over an index already built, after the imports it
needs (timed apart). `engine`: the engine's time per computed question, the encoder left out:
every dev question's texts are encoded ahead by the server's own encoder (as the server does
before it calls the engine), then `Engine.ask` is timed with those vectors and the answer cache
off.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.inputs import DEV


def _settings(corpus: Path, index: Path) -> Any:
    from peelqa.config import Settings

    return Settings(corpus=corpus, index=index, answer_cache=0)


def measure_load(corpus: Path, index: Path) -> dict[str, Any]:
    t = time.perf_counter()
    # What load_components imports as it goes, imported first so that the figure is the
    # loading itself: a server process pays for the imports either way.
    import faiss  # noqa: F401
    import onnxruntime  # noqa: F401
    import tokenizers  # noqa: F401

    import peelqa.encoder.onnx  # noqa: F401
    from peelqa.runtime import load_components

    import_s = time.perf_counter() - t
    pointer = (index / "CURRENT").read_text()
    settings = _settings(corpus, index)
    t = time.perf_counter()
    c = load_components(settings)
    load_s = time.perf_counter() - t
    if (index / "CURRENT").read_text() != pointer:
        raise RuntimeError(f"load_components rebuilt {index}: it was not fresh")
    return {"import_s": import_s, "load_components_s": load_s, "chunks": len(c.index.chunks)}


class _NoEncoder:
    """Stands in for the encoder of the timed engine: every text it needs comes with its
    vector, so a call here means the figure would include encoding."""

    def __init__(self, model_id: str, dim: int) -> None:
        self.model_id = model_id
        self.dim = dim

    def encode(self, texts: list[str]) -> Any:
        raise RuntimeError(f"the engine asked to encode {texts!r}, which it was given")


def measure_engine(corpus: Path, index: Path, rounds: int) -> dict[str, Any]:
    from peelqa.evaluation import load_cases
    from peelqa.runtime import load_components, make_engine

    settings = _settings(corpus, index)
    c = load_components(settings)
    cases = load_cases(DEV)
    asked = []
    for case in cases:
        texts = c.engine.queries(question=case.q, history=case.history)
        known = dict(zip(texts, c.embedder.encode(texts), strict=True)) if texts else {}
        asked.append((case, known))
    # An engine made as load_components makes its own, over an encoder that refuses to run.
    engine = make_engine(
        c.index, _NoEncoder(c.embedder.model_id, c.embedder.dim), settings=settings
    )
    # Untimed round: fills the memos a serving engine has warm, and checks that the timed
    # engine answers as the components' own does.
    same = answered = 0
    for case, known in asked:
        mine = engine.ask(question=case.q, history=case.history, known=known)
        theirs = c.engine.ask(question=case.q, history=case.history, known=known)
        # The answer id is made per answer; everything else must agree.
        same += mine.model_dump(exclude={"id"}) == theirs.model_dump(exclude={"id"})
        answered += mine.answered
    times: list[list[float]] = []
    for _ in range(rounds):
        row = []
        for case, known in asked:
            t = time.perf_counter()
            engine.ask(question=case.q, history=case.history, known=known)
            row.append((time.perf_counter() - t) * 1000)
        times.append(row)
    return {
        "questions": len(cases),
        "rounds": rounds,
        "answered": answered,
        "same_answers": same == len(cases),
        "round_medians_ms": [statistics.median(r) for r in times],
        "question_medians_ms": [statistics.median(col) for col in zip(*times, strict=True)],
        "mean_ms": statistics.fmean(x for r in times for x in r),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=["load", "engine"])
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--rounds", type=int, default=30)
    a = p.parse_args()
    if a.what == "load":
        out = measure_load(a.corpus, a.index)
    else:
        out = measure_engine(a.corpus, a.index, a.rounds)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
