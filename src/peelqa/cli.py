"""Command line: build, serve, ask, eval. The only place that wires the real components."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from peelqa.config import Settings
from peelqa.index.store import IndexError_

EXIT_STARTUP = 1
EXIT_USAGE = 2
EXIT_INDEX = 3
EXIT_STORAGE = 4


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        k: v
        for k in ("corpus", "index", "host", "port", "workers")
        if (v := getattr(args, k, None)) is not None
    }
    if getattr(args, "watch", False):
        overrides["watch"] = True
    return Settings(**overrides)


def _progress_bar(desc: str) -> Callable[[int, int], None]:
    from tqdm import tqdm

    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="passage", file=sys.stderr)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def cmd_build(args: argparse.Namespace) -> int:
    from peelqa.runtime import build

    settings = _settings(args)
    m, _ = build(settings, progress=_progress_bar("embedding"))
    for name, why in m.failed.items():
        print(f"peelqa: left out {name}: {why['error']}", file=sys.stderr)
    print(
        f"built {settings.index}: {m.documents} report(s), {m.sections} sections, "
        f"{m.chunks} chunks, {m.sentences} sentences ({m.model}, dim {m.dim})"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from peelqa.runtime import load_components
    from peelqa.server.access import parse_admin_keys, parse_keys
    from peelqa.server.app import create_app
    from peelqa.server.observability import configure_access_log
    from peelqa.server.proxy import parse_networks
    from peelqa.server.serving import serve, uvicorn_config
    from peelqa.storage.database import database_url

    settings = _settings(args)
    try:  # before the slow start, so that a bad key, proxy or database setting is told at once
        parse_keys(settings.api_keys.get_secret_value())
        parse_admin_keys(settings.admin_keys.get_secret_value())
        parse_networks(settings.trusted_proxies)
        database_url(settings)
    except ValueError as e:
        print(f"peelqa: invalid setting: {e}", file=sys.stderr)
        return EXIT_USAGE
    if settings.worker_count > 1:
        return _serve_workers(settings)
    components = load_components(settings, progress=_progress_bar("building index"))
    app = create_app(settings, components=components)
    configure_access_log()
    print(f"peelqa serving on http://{settings.host}:{settings.port}", file=sys.stderr)
    return 0 if serve(uvicorn_config(app, settings)) else EXIT_STARTUP


def cmd_new_key(args: argparse.Namespace) -> int:
    from peelqa.server.access import new_key

    key, line = new_key(args.label or "")
    print(f"key (give it to the caller; it is not stored):\n  {key}")
    print(f"line for the keys file (PEELQA_API_KEYS=/path/to/file):\n  {line}")
    return 0


def _serve_workers(settings: Settings) -> int:
    """N processes on one port; each loads the model in its lifespan, after the fork, so no
    process inherits another's encoder threads. The index is built here first, once."""
    import os

    from peelqa.index.store import load_index
    from peelqa.runtime import ensure_index

    ensure_index(settings, progress=_progress_bar("building index"))
    # Checked whole (every checksum) here, as one process checks it: a damaged index is refused
    # with its message and status 3 before any worker starts. The memory goes with the exec.
    load_index(settings.index)
    workers = settings.worker_count
    print(
        f"peelqa serving on http://{settings.host}:{settings.port} with {workers} workers",
        file=sys.stderr,
        flush=True,
    )
    # The supervisor (server/workers.py) becomes a fresh process, same pid: this one has loaded
    # the index stack to check it, memory the supervisor would otherwise hold for good. The
    # settings go to it whole, with the folders made absolute, over an inherited pipe.
    fixed = settings.model_copy(
        update={
            "corpus": settings.corpus.resolve(),
            "index": settings.index.resolve(),
            "workers": workers,
        }
    )
    read_end, write_end = os.pipe()
    os.write(write_end, fixed.to_json().encode("utf-8"))
    os.close(write_end)
    os.set_inheritable(read_end, True)
    command = [sys.executable, "-m", "peelqa.server.workers", "--settings-fd", str(read_end)]
    os.execv(sys.executable, command)


def cmd_ask(args: argparse.Namespace) -> int:
    from peelqa.models import AskRequest
    from peelqa.runtime import load_components

    settings = _settings(args)
    try:
        request = AskRequest(question=args.question)
    except ValidationError as e:
        print(f"peelqa: {e.errors()[0]['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return EXIT_USAGE
    c = load_components(settings, progress=_progress_bar("building index"))
    if args.explain:
        from peelqa.learn.explain import explain

        analysis = c.engine.analyse(request.question, [])
        result = c.engine.answer(analysis)
        print(explain(c.engine, analysis), end="\n\n")
    else:
        result = c.engine.ask(question=request.question, history=[])
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    print(result.answer)
    for n, cit in enumerate(result.citations, 1):
        where = " › ".join(cit.path) + (f" · page {cit.page}" if cit.page else "")
        print(f"\n[{n}] {cit.doc} · {cit.section} · {where}\n    “{cit.quote}”")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.devset:
        return _eval_devset(args)
    if not args.file:
        print("peelqa: eval needs a question-set FILE or --devset SPLIT", file=sys.stderr)
        return EXIT_USAGE
    from peelqa.evaluation import evaluate, format_table, load_cases
    from peelqa.runtime import load_components

    settings = _settings(args)
    cases = load_cases(Path(args.file))
    c = load_components(settings, progress=_progress_bar("building index"))
    figs, outcomes = evaluate(cases, lambda q, h: c.engine.ask(question=q, history=h))
    if args.explain:
        from peelqa.learn.explain import explain

        for o in outcomes:
            if not o.correct:
                analysis = c.engine.analyse(o.case.q, o.case.history)
                c.engine.answer(analysis)
                print(f"== {o.case.id} (wrong)\n{explain(c.engine, analysis)}\n")
    if args.plot:
        from peelqa.learn.devset import Report
        from peelqa.learn.report import plot
        from peelqa.learn.train import collect_with
        from peelqa.learn.train import outcomes as answered

        samples = collect_with(c.engine, Report("", Path(args.file), "", "", cases))
        for path in plot(answered(samples, c.engine.model), Path(args.plot)):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        report = {
            "figures": figs,
            "cases": [
                {
                    "id": o.case.id,
                    "correct": o.correct,
                    "answered": o.response.answered,
                    "section": o.response.citations[0].section if o.response.citations else None,
                }
                for o in outcomes
            ],
        }
        print(json.dumps(report, indent=2))
    else:
        print(format_table(figs, outcomes))
    return 0


def _eval_devset(args: argparse.Namespace) -> int:
    """A split of the development corpus: each report with its questions, then one corpus."""
    from dataclasses import asdict

    from peelqa.answering.model import AnswerModel
    from peelqa.learn.devset import DevSet, Indexes
    from peelqa.learn.report import format_split, score_split

    devset = DevSet.load(Path(args.data))
    indexes = Indexes(Path(args.cache))
    results = [
        score_split(devset, split, indexes, AnswerModel.load()) for split in args.devset.split(",")
    ]
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print("\n\n".join(format_split(r) for r in results))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from peelqa.learn.train import train

    if args.ablation:
        from peelqa.learn.report import ablation

        for name, figs in ablation(Path(args.data), Path(args.cache)).items():
            print(f"{name:12} tune {figs['tune']:5}  validation {figs['validation']:5}")
        return 0
    model = train(Path(args.data), Path(args.cache))
    out = Path(args.out)
    out.write_text(model.to_json(), encoding="utf-8")
    print(f"wrote {out}: {json.dumps(model.fitted)}")
    return 0


def cmd_usage(args: argparse.Namespace) -> int:
    from peelqa.storage.report import format_usage
    from peelqa.storage.service import Storage

    settings = _settings(args)
    try:
        storage = Storage.open(settings, writer=False)
    except ValueError as e:
        print(f"peelqa: invalid setting: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if not storage.ready():
            print(f"peelqa: the database {storage.describe()} is not available", file=sys.stderr)
            return EXIT_STORAGE
        report = storage.usage_now(days=args.days)
    finally:
        storage.close()
    print(report.model_dump_json(indent=2) if args.json else format_usage(report))
    return 0


def _days(text: str) -> int:
    n = int(text)
    if not 1 <= n <= 366:
        raise argparse.ArgumentTypeError("between 1 and 366")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="peelqa", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def paths(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--corpus", type=Path, help="folder of reports (default corpus/)")
        sp.add_argument("--index", type=Path, help="index folder (default index/)")

    def devset_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--data", default="tests/data/devcorpus", help="the development corpus folder"
        )
        sp.add_argument(
            "--cache", default="build/devcorpus", help="where its indexes are built and kept"
        )

    b = sub.add_parser("build", help="build the index of every report in the corpus folder")
    paths(b)
    b.set_defaults(fn=cmd_build)

    s = sub.add_parser("serve", help="serve the API and the chat page")
    paths(s)
    s.add_argument("--host", help="default 127.0.0.1")
    s.add_argument("--port", type=int, help="default 8000")
    s.add_argument(
        "--workers",
        type=int,
        help="server processes, each with its share of the cores (default: one per core)",
    )
    s.add_argument(
        "--watch",
        action="store_true",
        help="index report files dropped into the corpus folder, and drop those removed",
    )
    s.set_defaults(fn=cmd_serve)

    k = sub.add_parser("new-key", help="make an API key and its line for the keys file")
    k.add_argument("--label", help="a name for the caller, shown in logs and metrics")
    k.set_defaults(fn=cmd_new_key)

    a = sub.add_parser("ask", help="answer one question")
    a.add_argument("question")
    a.add_argument("--json", action="store_true", help="print the POST /v1/ask object")
    a.add_argument(
        "--explain", action="store_true", help="first print how the question was read and decided"
    )
    paths(a)
    a.set_defaults(fn=cmd_ask)

    e = sub.add_parser("eval", help="score a question set")
    e.add_argument("file", nargs="?", help="a question set (docs/eval.md)")
    e.add_argument("--json", action="store_true")
    e.add_argument("--explain", action="store_true", help="explain every wrong answer")
    e.add_argument("--plot", metavar="DIR", help="write a reliability diagram and a PR curve")
    e.add_argument(
        "--devset",
        metavar="SPLIT",
        help="score a split of the development corpus instead (tune, validation, sealed)",
    )
    devset_options(e)
    paths(e)
    e.set_defaults(fn=cmd_eval)

    u = sub.add_parser(
        "usage", help="questions a day, share not answered, refused questions, feedback"
    )
    u.add_argument("--days", type=_days, default=30, help="the last N UTC days (default 30)")
    u.add_argument("--json", action="store_true", help="print the GET /v1/usage object")
    paths(u)
    u.set_defaults(fn=cmd_usage)

    t = sub.add_parser("train", help="refit the answer model on the development corpus")
    t.add_argument(
        "--out",
        default=str(Path(__file__).parent / "answering" / "answer_model.json"),
        help="where to write the model (default: the one the package ships)",
    )
    t.add_argument(
        "--ablation", action="store_true", help="print all_ok with each feature group removed"
    )
    devset_options(t)
    t.set_defaults(fn=cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    # Other libraries' INFO chatter (faiss's loader, bm25s) is noise to a user; ours is not.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("peelqa").setLevel(logging.INFO)
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except ValidationError as e:
        print(f"peelqa: invalid setting: {e}", file=sys.stderr)
        return EXIT_USAGE
    except IndexError_ as e:
        print(f"peelqa: {e}", file=sys.stderr)
        return EXIT_INDEX
    except FileNotFoundError as e:
        print(f"peelqa: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
