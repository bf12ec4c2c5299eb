"""The corpora the bench serves: the real report (1) and synthetic ones (10, 100, 1,000
reports, or any size), or a folder given with `--corpus`; building their indexes with
`peelqa build` and reusing them between runs.

Synthetic reports are of the PEEL family: each has what the parser and the retriever meet in a
real one, a title line, an intro, four numbered question headings ("1. How effective is the
force at ...?"), paragraphs of inspection prose, defined abbreviations and a Conclusion. The
prose is drawn from phrase banks with a seeded generator, so a corpus is the same on every run
and its vocabulary grows with its size the way a real collection's does (force and place names
are new in each report). To write one without the bench:

    python -m bench.corpora OUT_DIR --reports 100 [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.inputs import CORPUS, MODEL_ID, OUT, PEELQA, REAL

# ---------------------------------------------------------------- synthetic reports

QUESTIONS = [
    "How effective is the force at preventing crime and anti-social behaviour, and keeping "
    "people safe?",
    "How effective is the force at investigating crime and managing offenders?",
    "How effective is the force at protecting those who are vulnerable from harm and "
    "supporting victims?",
    "How effective is the force at tackling serious and organised crime, including its "
    "arrangements for fulfilling its national policing responsibilities?",
]
TOPICS = [
    [
        "neighbourhood policing",
        "problem-solving",
        "anti-social behaviour",
        "partnership work",
        "crime prevention",
        "community engagement",
        "local priorities",
        "hot-spot patrols",
    ],
    [
        "crime allocation",
        "investigative standards",
        "supervision of investigations",
        "integrated offender management",
        "forensic submissions",
        "victim updates",
        "outstanding suspects",
        "domestic abuse investigations",
    ],
    [
        "call handling",
        "risk assessment",
        "safeguarding referrals",
        "missing children",
        "mental health triage",
        "child sexual exploitation",
        "repeat victims",
        "multi-agency safeguarding hubs",
    ],
    [
        "organised crime groups",
        "regional organised crime units",
        "disruption activity",
        "cyber-crime capability",
        "strategic policing requirement",
        "firearms capability",
        "intelligence sharing",
        "asset recovery",
    ],
]
OPENERS = [
    "HMIC found that",
    "Inspectors noted that",
    "The force recognises that",
    "We found that",
    "Staff told us that",
    "It is clear that",
    "HMIC is concerned that",
    "The inspection showed that",
]
VERDICTS = [
    "is well established",
    "needs to improve",
    "is inconsistent across the force",
    "has improved since the last inspection",
    "is not yet understood by all staff",
    "is a strength of the force",
    "lacks clear direction",
    "is under-resourced",
    "is supported by good training",
    "is monitored closely by senior leaders",
]
CONSEQUENCES = [
    "which puts victims at risk",
    "so that the public receive a good service",
    "although progress is slow",
    "and officers understand their role",
    "but the force cannot yet show what works",
    "which delays investigations",
    "and partners value the arrangements",
    "so demand is better managed",
]
FIGURES = [
    "{n} per cent of calls were answered within ten seconds",
    "{n} officers were trained in the last year",
    "the backlog stood at {n} cases in {y}",
    "{n} organised crime groups were mapped by {y}",
    "{n} referrals were made to partner agencies in {y}",
]
GRADES = ["good", "requires improvement", "inadequate", "outstanding"]
SYLLABLES = [
    "ash",
    "bury",
    "dale",
    "ford",
    "ham",
    "ley",
    "mere",
    "north",
    "ton",
    "wick",
    "shire",
    "brook",
    "stan",
    "wold",
    "coln",
    "ridge",
    "mar",
    "fen",
    "hurst",
    "by",
]
UNITS = [
    ("Multi-Agency Safeguarding Hub", "MASH"),
    ("Integrated Offender Management", "IOM"),
    ("Regional Organised Crime Unit", "ROCU"),
    ("Child Sexual Exploitation", "CSE"),
    ("Public Protection Unit", "PPU"),
    ("Force Control Room", "FCR"),
]


def place(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def sentence(rng: random.Random, topic: str) -> str:
    if rng.random() < 0.15:
        fig = rng.choice(FIGURES).format(n=rng.randint(3, 95), y=rng.randint(2013, 2019))
        return f"{rng.choice(OPENERS)} {fig} for {topic}."
    return f"{rng.choice(OPENERS)} {topic} {rng.choice(VERDICTS)}, {rng.choice(CONSEQUENCES)}."


def report(rng: random.Random, *, year: int, force: str) -> str:
    grades = [rng.choice(GRADES) for _ in QUESTIONS]
    long, short = rng.choice(UNITS)
    lines = [
        f"HMIC: PEEL Effectiveness Inspection {year}",
        "",
        f"As part of its annual inspections into police effectiveness, efficiency and legitimacy "
        f"(PEEL), HMIC has published its assessment of {force} Police. The force works with "
        f"its {long} ({short}) and partners across {place(rng)} and {place(rng)}.",
        "",
    ]
    for n, (q, topics) in enumerate(zip(QUESTIONS, TOPICS, strict=True), 1):
        lines += [f"{n}. {q}", ""]
        # Short: one or two paragraphs a question keeps a 1,000-report build within minutes.
        for _ in range(rng.randint(1, 2)):
            chosen = rng.sample(topics, rng.randint(2, 3))
            lines += [" ".join(sentence(rng, t) for t in chosen), ""]
        lines += [f"The force was graded as '{grades[n - 1]}' for this question.", ""]
    lines += [
        "Conclusion",
        "",
        f"Overall, {force} Police was judged to be '{rng.choice(GRADES)}' at keeping people "
        f"safe and reducing crime. The {short} {rng.choice(VERDICTS)}.",
        "",
    ]
    return "\n".join(lines)


def generate(out_dir: Path, *, reports: int, seed: int = 7, real: Path | None = None) -> None:
    """`reports` files in `out_dir`: the real report (if given) and synthetic ones."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = reports
    if real is not None:
        shutil.copy(real, out_dir / real.name)
        n -= 1
    for i in range(n):
        force = f"{place(rng)}{rng.choice(['shire', 'land', ' Valley', ''])}"
        year = rng.randint(2014, 2019)
        slug = force.lower().replace(" ", "-")
        text = report(rng, year=year, force=force)
        (out_dir / f"peel-{year}-{slug}-{i:04d}.txt").write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- building and reusing indexes


@dataclass(frozen=True)
class Built:
    """One corpus with its built index, as the bench serves and measures it."""

    name: str  # the number of reports for the bench's own corpora, else the folder's name
    reports: int
    corpus: Path
    index: Path
    gen: Path  # the index's generation in service
    build_s: float  # `peelqa build` as a rebuild (see `build`), when it was built
    first_build_s: float | None  # the 1-report index from nothing (torch and the export)
    reused: bool  # built by an earlier run and still fresh
    chunks: int
    sentences: int
    index_mb: float  # the generation without its encoder export
    encoder_mb: float
    dense_index: str  # "flat" (exact) or "hnsw"


def corpus_for(size: int) -> Path:
    """The corpus of `size` reports: the real one for 1, else synthetic ones with it."""
    if size == 1:
        return CORPUS
    path = OUT / f"corpus-{size}"
    if not path.is_dir():
        # Written beside it and renamed: an interrupted run leaves no half corpus to reuse.
        tmp = path.with_name(f".tmp-{path.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        generate(tmp, reports=size, real=REAL)
        tmp.rename(path)
    return path


def _peelqa_build(corpus: Path, index: Path) -> float:
    t = time.perf_counter()
    subprocess.run(
        [*PEELQA, "build", "--corpus", str(corpus), "--index", str(index)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


def _seed(index: Path, source: Path) -> None:
    """Start `index` from a copy (hard links) of `source`'s generation: the rebuild path of
    `peelqa build`, which reuses the ONNX export and encodes with it instead of torch."""
    from peelqa.index.store import current_generation

    gen = current_generation(source)
    index.mkdir(parents=True)
    shutil.copytree(gen, index / gen.name, copy_function=os.link)
    (index / "CURRENT").write_text(gen.name + "\n")


def build(size: int) -> Built:
    """Build (or reuse) the index of the bench's corpus of `size` reports.

    Size 1 (the real corpus) is built twice: from nothing (torch import, sentence-transformers
    encoding and the ONNX export) and again as a rebuild. Larger corpora are rebuilds: they
    start from the size-1 index, as a user who adds reports to corpus/ would, and encode with
    ONNX Runtime. The rebuild times are the ones reported.
    """
    return _build(str(size), corpus_for(size), OUT / f"index-{size}", first=size == 1)


def build_folder(corpus: Path) -> Built:
    """Build (or reuse) the index of a corpus folder given to the bench, as a rebuild from the
    1-report index (which must be built first)."""
    name = corpus.resolve().name
    return _build(name, corpus.resolve(), OUT / f"index-dir-{name}", first=False)


def _build(name: str, corpus: Path, index: Path, *, first: bool) -> Built:
    from peelqa.config import Settings
    from peelqa.index.freshness import freshness
    from peelqa.index.store import current_generation, read_manifest
    from peelqa.runtime import export_check

    record = index.with_name(f"build-{index.name.removeprefix('index-')}.json")
    fresh = freshness(
        index_dir=index,
        corpus_dir=corpus,
        model_id=MODEL_ID,
        encoder_ok=export_check(Settings()),
    )
    reused = fresh == "fresh" and record.is_file()
    if not reused:
        shutil.rmtree(index, ignore_errors=True)
        times: dict[str, float] = {}
        if first:
            times["first_build_s"] = _peelqa_build(corpus, index)
        else:
            _seed(index, OUT / "index-1")
        times["build_s"] = _peelqa_build(corpus, index)
        record.write_text(json.dumps(times))
    times = json.loads(record.read_text())
    gen = current_generation(index)
    manifest = read_manifest(index)
    index_bytes = sum(
        f.stat().st_size for f in gen.rglob("*") if f.is_file() and "encoder" not in f.parts
    )
    encoder_bytes = sum(f.stat().st_size for f in (gen / "encoder").rglob("*") if f.is_file())
    return Built(
        name=name,
        reports=manifest.documents,
        corpus=corpus,
        index=index,
        gen=gen,
        build_s=float(times["build_s"]),
        first_build_s=times.get("first_build_s"),
        reused=reused,
        chunks=manifest.chunks,
        sentences=manifest.sentences,
        index_mb=index_bytes / 1e6,
        encoder_mb=encoder_bytes / 1e6,
        dense_index=manifest.dense_index,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--reports", type=int, default=100)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--real", type=Path, help="a real report to include as the first one")
    a = p.parse_args()
    generate(a.out_dir, reports=a.reports, seed=a.seed, real=a.real)


if __name__ == "__main__":
    main()
