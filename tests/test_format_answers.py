"""A report answers the same whatever it was published as: the Northamptonshire report (the
dev set, tests/data/eval/dev.jsonl) and a modern report (Kingsmere, questions below), each as
Markdown, a PDF printed by headless Chromium (A4, running header and footer, page numbers, a
table), a web page in a site's navigation and footer, and a Word file; the Northamptonshire
report also as the plain text it ships as. Every format is indexed on its own, as a corpus of
that one file, and scored as `peelqa eval` scores: all_ok within 3 points of the reference
format's, and the same first section for every question.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import format_files as ff
import pytest
from conftest import DEV_SET, DOC, REPORT, _components

from peelqa.evaluation import Case, evaluate, load_cases
from peelqa.runtime import Components

NORTHAMPTONSHIRE = ff.from_text(DOC, REPORT.read_text(encoding="utf-8"))
KINGSMERE = ff.kingsmere()
# (question, a pattern the answer must hold, a phrase of the sections that answer it)
KINGSMERE_QUESTIONS = [
    ("What grade did Kingsmere Police get for investigating crime?", "requires improvement",
     "Investigating crime: Requires improvement"),
    ("How good is the force at leadership and force management?", "outstanding",
     "outstanding at leadership and force management"),
    ("How many causes of concern were raised about responding to the public?", r"\b1\b",
     "Responding to the public: Causes of concern 1"),
    ("What has the force's new operating model improved?", "responds to the public",
     "new operating model"),
    ("What does the force need to improve about domestic abuse investigations?",
     "risk assessment", "investigations of domestic abuse"),
    ("How is the force's anti-social behaviour strategy judged?", "effective",
     "anti-social behaviour strategy is effective"),
    ("What percentage of reported crimes did the force record in 2023?", r"94\.2",
     "94.2 percent"),
    ("What happened to the backlog of devices awaiting examination?", "137", "from 412 to 137"),
    ("What did the inspectors find about the force's fire engines?", None, None),
    ("How many prisons does Kingsmere run?", None, None),
]  # fmt: skip


def kingsmere_cases(components: Components) -> list[Case]:
    """The questions with their gold sections, found in the reference reading of the report."""
    (doc,) = components.index.documents
    cases = []
    for n, (q, must, phrase) in enumerate(KINGSMERE_QUESTIONS):
        if must is None:
            cases.append(Case(id=f"k{n:02}", q=q, abstain=True))
            continue
        gold = [s.section for s in doc.sections if phrase in s.text]
        assert gold, phrase
        cases.append(Case(id=f"k{n:02}", q=q, gold=gold, must=[[must]]))
    return cases


@pytest.fixture(scope="module")
def formats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """Each report in each format, in a corpus folder of its own."""
    if not ff.CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must have /usr/bin/chromium: .ci/run installs it with apt-get")
        pytest.skip("no /usr/bin/chromium here (apt-get install -y chromium to run these)")
    sync_api = pytest.importorskip("playwright.sync_api")
    root = tmp_path_factory.mktemp("formats")
    out: dict[str, dict[str, Path]] = {}

    def folder(report: str, fmt: str, name: str) -> Path:
        d = root / report / fmt
        d.mkdir(parents=True)
        out.setdefault(report, {})[fmt] = d
        return d / name

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(ff.CHROMIUM), args=ff.CHROMIUM_ARGS)
        try:
            for report, src, doc in (
                ("northamptonshire", NORTHAMPTONSHIRE, DOC),
                ("kingsmere", KINGSMERE, "kingsmere"),
            ):
                ff.print_pdf(browser, src, folder(report, "pdf", f"{doc}.pdf"))
                folder(report, "md", f"{doc}.md").write_text(ff.markdown(src), encoding="utf-8")
                folder(report, "html", f"{doc}.html").write_text(ff.web_page(src))
                ff.write_docx(src, folder(report, "docx", f"{doc}.docx"))
        finally:
            browser.close()
    folder("northamptonshire", "txt", REPORT.name).write_bytes(REPORT.read_bytes())
    return out


def scored(
    folder: Path, tmp: Path, embedder: object, questions: Path, cases: list[Case] | None
) -> tuple[dict[str, object], dict[str, str | None], Components]:
    c = _components(folder, tmp / "index", embedder, questions=questions)  # type: ignore[arg-type]
    figs, outcomes = evaluate(
        cases or kingsmere_cases(c), lambda q, h: c.engine.ask(question=q, history=h)
    )
    first = {
        o.case.id: (o.response.citations[0].section if o.response.answered else None)
        for o in outcomes
    }
    return figs, first, c


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(
    ("report", "reference"), [("northamptonshire", "txt"), ("kingsmere", "md")]
)
def test_every_format_of_a_report_gives_the_same_answers(
    formats: dict[str, dict[str, Path]],
    tmp_path: Path,
    embedder: object,
    components: Components,
    report: str,
    reference: str,
) -> None:
    questions = components.index.encoder_dir
    assert questions is not None
    dev = load_cases(DEV_SET) if report == "northamptonshire" else None
    folders = formats[report]
    ref_figs, ref_first, ref = scored(
        folders[reference], tmp_path / reference, embedder, questions, dev
    )
    cases = dev or kingsmere_cases(ref)
    assert ref_figs["all_ok"] is not None and float(str(ref_figs["all_ok"])) >= 60, ref_figs
    for fmt, folder in folders.items():
        if fmt == reference:
            continue
        figs, first, c = scored(folder, tmp_path / fmt, embedder, questions, cases)
        (doc,) = c.index.documents
        print(f"\n{report} {fmt}: all_ok {figs['all_ok']} (reference {ref_figs['all_ok']})")
        assert doc.format == fmt
        assert abs(float(str(figs["all_ok"])) - float(str(ref_figs["all_ok"]))) <= 3, (
            fmt,
            figs,
            ref_figs,
        )
        differ = {k: (ref_first[k], first[k]) for k in ref_first if ref_first[k] != first[k]}
        assert not differ, (fmt, differ)
        if fmt == "pdf":  # the paged format cites pages, the others none
            reply = c.engine.ask(question=cases[0].q, history=[])
            assert reply.citations and all(x.page for x in reply.citations)
            assert re.search(r"\d", str(doc.pages))
