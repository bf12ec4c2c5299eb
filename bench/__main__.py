"""`make bench` (`python -m bench`): peelqa against a hand-rolled encode-and-search script, on
this machine, over loopback.

Every run measures (the default set):
  - the peer: bare in-process SentenceTransformer.encode + FAISS search, one question at a
    time (bench/peer.py), same questions, same packaged model, same chunk index;
  - POST /v1/ask at 1, 8 and 32 clients: every question computed (1 and 2 workers, and the
    default command: a worker per core, limits on) and repeated questions (the answer cache);
    p50, p95, p99, requests/s, errors;
  - the rate limits' cost per request, in memory and in Redis (bench/limiter.py);
  - cold start (process start to /healthz 200) and peak RSS; the wall time of `peelqa ask`;
  - index build time, size and 1-client latency for each corpus size, and 1 against 1,000
    reports side by side;
  - in-process: the engine's time per computed question (encoder excluded) and the cost of
    loading the components.
Studies (--studies, --all) add measurements on request. Figures are medians over --runs
runs. Results, plots and a summary go to bench/out/ (git-ignored); see docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from bench.corpora import Built, build, build_folder
from bench.ingest import ingest_study
from bench.inputs import OUT, dev_questions
from bench.limiter import limiter_costs
from bench.machine import loadavg, machine, wait_quiet
from bench.report import Results, Studies, check_targets, peer_ratios, summary_text, write
from bench.servers import (
    COMPUTED,
    CONFIGS,
    PeerRun,
    RunResult,
    SizeRuns,
    ask_wall,
    median_peer,
    median_run,
    run_peer,
    serve_run,
    side_by_side,
)
from bench.studies import (
    STUDIES,
    encoder_costs,
    engine_time,
    eval_study,
    hnsw_study,
    spelling_cost,
    startup_cost,
    variants,
    window_sweep,
)

SIZES = [1, 10, 100, 1000]


def _studies(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in STUDIES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown studies {', '.join(unknown)}; choose from {', '.join(STUDIES)}"
        )
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="studies:\n" + "\n".join(f"  {k:10} {v}" for k, v in STUDIES.items()),
    )
    # 5, not 3: on a shared machine a median of 3 runs still followed one bad run.
    p.add_argument("--runs", type=int, default=5, help="server runs whose medians are reported")
    p.add_argument("--sizes", type=int, nargs="+", default=SIZES, help="corpus sizes (reports)")
    p.add_argument(
        "--quiet-wait", type=float, default=300, help="max seconds to wait for load < 0.7"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: one run, no 2-worker server (the default command still runs)",
    )
    p.add_argument(
        "--studies", type=_studies, default=[], help="comma-separated studies to add (below)"
    )
    p.add_argument("--all", action="store_true", help="add every study")
    p.add_argument(
        "--corpus",
        type=Path,
        help="a corpus folder (every .txt/.md a report) also measured in-process",
    )
    p.add_argument(
        "--engine-rounds", type=int, default=30, help="rounds of the dev set for the engine time"
    )
    p.add_argument(
        "--startup-samples", type=int, default=5, help="fresh processes for load_components"
    )
    a = p.parse_args(argv)
    if a.corpus is not None and not a.corpus.is_dir():
        p.error(f"--corpus {a.corpus} is not a folder")
    return a


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    chosen = list(STUDIES) if a.all else a.studies
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    questions = dev_questions()
    runs = 1 if a.quick else a.runs
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    facts = machine()

    log("building / reusing indexes ...")
    needed = {1, *a.sizes} | ({1000} if {"hnsw", "ingest"} & set(chosen) else set())
    builds = {n: build(n) for n in sorted(needed)}
    folder = build_folder(a.corpus) if a.corpus is not None else None
    base = builds[1]
    load_before = wait_quiet(a.quiet_wait)

    # Each run measures the peer and then each server configuration back to back, so that they
    # share the machine's conditions of the moment; medians over the runs.
    peers: list[PeerRun] = []
    serve_runs: dict[str, list[RunResult]] = {name: [] for name in CONFIGS}
    for i in range(runs):
        log(f"run {i + 1}/{runs}, load {loadavg():.2f}: peer, 1 worker, 2 workers")
        peers.append(run_peer(base.gen, questions, rounds=3))
        # One torch thread: slower on an idle machine, far steadier on a busy one.
        peers.append(run_peer(base.gen, questions, rounds=3, threads=1))
        for name, conf in CONFIGS.items():
            if conf.workers != 2 or not a.quick:
                serve_runs[name].append(
                    serve_run(base, questions, env=conf.env, workers=conf.workers)
                )
    # The peer is the script as written, with torch's default threads: the median of those
    # runs. Its best run, of either thread setting, is the strictest comparison.
    peer = median_peer(peers)
    peer_best = min(peers, key=lambda p: p.p50_ms)
    configs = {name: median_run(rs) for name, rs in serve_runs.items() if rs}
    walls = ask_wall(questions, base, times=3)
    wall = statistics.median(walls)

    log("corpus sizes ...")
    # Sizes in turn, `runs` rounds, so that a change in the machine's load hits them alike.
    per_size: dict[int, list[RunResult]] = {n: [] for n in a.sizes}
    for _ in range(runs):
        for n in a.sizes:
            # 6 rounds of the questions: the scale ratio compares two p50s of a few ms.
            per_size[n].append(
                serve_run(builds[n], questions, env=COMPUTED, levels=(1,), c1_rounds=6)
            )
    scale = [SizeRuns(builds[n], rs, median_run(rs)) for n, rs in per_size.items()]
    side = []
    if 1000 in a.sizes:
        # The scale target's figure: 1 and 1,000 reports served side by side, `runs` times.
        side = [side_by_side(base, builds[1000], questions, rounds=12) for _ in range(runs)]

    log("in-process: the rate limits' cost per request, in memory and in Redis ...")
    limiter = limiter_costs()

    log("in-process: engine time per question, loading the components ...")
    measured: list[Built] = [builds[n] for n in dict.fromkeys([1, *a.sizes])]
    measured += [folder] if folder is not None else []
    engine = [engine_time(b, rounds=a.engine_rounds) for b in measured]
    startup = [
        startup_cost(b, samples=a.startup_samples)
        for b in ([base, folder] if folder is not None else [base])
    ]

    studies = run_studies(chosen, builds, folder, questions, sizes=a.sizes)
    ratios = peer_ratios(configs, peer, peer_best)
    res = Results(
        machine=facts,
        started=started,
        args={k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
        load_before=load_before,
        load_after=loadavg(),
        peer_runs=peers,
        peer=peer,
        peer_best=peer_best,
        serve_runs={name: rs for name, rs in serve_runs.items() if rs},
        configs=configs,
        ask_wall_runs_s=walls,
        ask_wall_s=wall,
        scale=scale,
        scale_side_by_side=side,
        engine=engine,
        startup=startup,
        ratios=ratios,
        targets=check_targets(
            configs=configs,
            ratios=ratios,
            ask_wall_s=wall,
            scale=scale,
            side=side,
        ),
        studies=studies,
        limiter=limiter,
    )
    write(res, OUT)
    print(summary_text(res))
    log(f"\nwritten: {OUT / 'results.json'}, {OUT / 'summary.md'}, {OUT}/*.png")


def run_studies(
    chosen: list[str],
    builds: dict[int, Built],
    folder: Built | None,
    questions: list[str],
    *,
    sizes: list[int],
) -> Studies:
    """The studies asked for, in a fixed order whatever the order asked."""
    base = builds[1]
    st = Studies()
    if "spelling" in chosen:
        log("study: spelling ...")
        corpora = [builds[n] for n in sizes] + ([folder] if folder is not None else [])
        st = replace(st, spelling=[spelling_cost(b, questions) for b in corpora])
    if "hnsw" in chosen:
        log("study: HNSW ...")
        st = replace(st, hnsw=hnsw_study(builds[1000]))
    if "window" in chosen:
        log("study: batch window sweep ...")
        st = replace(st, window=window_sweep(base, questions))
    if "variants" in chosen:
        log("study: variants ...")
        st = replace(st, variants=variants(base, questions))
    if "encoders" in chosen:
        log("study: encoder costs ...")
        st = replace(st, encoders=encoder_costs(base, questions))
    if "eval" in chosen:
        log("study: eval with each encoder ...")
        st = replace(st, eval=eval_study(base))
    if "ingest" in chosen:
        log("study: ingestion by format, one report added to 1,000 ...")
        st = replace(st, ingest=ingest_study(base, builds.get(1000)))
    return st


if __name__ == "__main__":
    main()
