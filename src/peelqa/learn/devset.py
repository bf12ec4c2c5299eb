"""The development corpus: reports, their question sets, and the splits they are scored in.

`tests/data/devcorpus/` holds fictional reports of the family across eras and shapes, questions
written for them by people who never read the code, and `splits.json`, which puts every report
of one force in the same split (tune, validation or sealed) and names each report's shape.
This module builds an index for each report (and one for all of them), cached by content, and
runs question sets through the engine as a user's server would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from peelqa.answering.engine import Engine
from peelqa.answering.model import AnswerModel
from peelqa.config import Settings
from peelqa.evaluation import Case, load_cases
from peelqa.reports.corpus import REPORT_SUFFIXES
from peelqa.runtime import Components, load_components

SPLITS = ("tune", "validation", "sealed")


@dataclass
class Report:
    doc: str
    path: Path
    shape: str
    split: str
    cases: list[Case] = field(default_factory=list)


@dataclass
class DevSet:
    root: Path
    reports: dict[str, Report]

    @classmethod
    def load(cls, root: Path) -> DevSet:
        spec = json.loads((root / "splits.json").read_text(encoding="utf-8"))
        files = {
            p.stem: p for p in (root / "reports").iterdir() if p.suffix.lower() in REPORT_SUFFIXES
        }
        reports: dict[str, Report] = {}
        for split in SPLITS:
            for doc in spec[split]:
                report = Report(doc=doc, path=files[doc], shape=spec["shape"][doc], split=split)
                report.cases = load_cases(root / "questions" / f"{doc}.jsonl")
                for c in report.cases:
                    c.doc = c.doc or doc
                reports[doc] = report
        return cls(root=root, reports=reports)

    def split(self, name: str) -> list[Report]:
        return [r for r in self.reports.values() if r.split == name]


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


class Indexes:
    """Components for one report or several, built once into `cache` and reused while the
    reports' bytes are the same (the index's own freshness check rebuilds a stale one)."""

    def __init__(self, cache: Path, *, settings: Settings | None = None) -> None:
        self.cache = cache
        self.base = settings or Settings(api_keys="", rate_limit=0, answer_cache=0)
        self._loaded: dict[str, Components] = {}

    def components(self, reports: list[Report]) -> Components:
        key = _digest([r.path for r in reports])
        found = self._loaded.get(key)
        if found is not None:
            return found
        folder = self.cache / key
        corpus = folder / "corpus"
        if not corpus.is_dir():
            corpus.mkdir(parents=True)
            for r in reports:
                shutil.copy(r.path, corpus / r.path.name)
        settings = self.base.model_copy(update={"corpus": corpus, "index": folder / "index"})
        # Untrained: the caller sets the model it studies (the shipped one may be stale).
        self._loaded[key] = load_components(settings, model=AnswerModel.untrained())
        return self._loaded[key]

    def engine(self, reports: list[Report]) -> Engine:
        return self.components(reports).engine


def single(devset: DevSet, split: str) -> Iterator[tuple[Report, list[Case]]]:
    """Each report of a split with its own question set, to be asked with that report alone."""
    for r in devset.split(split):
        yield r, r.cases


def scoped(reports: list[Report]) -> list[Case]:
    """The questions that name their report (force and year or inspection), for asking with
    many reports in one corpus: the others are ambiguous there by construction, and a question
    this report does not answer may be answered by another."""
    return [c for r in reports for c in r.cases if c.scope == "report"]
