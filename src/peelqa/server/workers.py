"""`peelqa serve --workers N`: N server processes on one port, each with a listening socket of
its own (SO_REUSEPORT), so that the kernel spreads connections across them.

uvicorn's own supervisor shares one listening socket between its workers. A burst of
connections (a client pool opening its 32 keep-alive connections at once) is then accepted by
whichever worker wakes first, which serves nearly all of them while the others idle: the
throughput of a run then depends on how that burst happened to split. With a socket per
worker the kernel hashes each new connection to one of them.

Each worker binds its socket but listens only once its app has loaded (uvicorn's startup calls
listen), so a worker still loading the model is never handed a connection. A worker that dies
in service is started again; one that cannot start (the port is taken) stops the server.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.process import BaseProcess
from types import FrameType

from peelqa.config import Settings

# A worker that exits with an error sooner than this after its start failed to start.
STARTUP_GRACE_S = 60.0
# Past the workers' own grace period (PEELQA_SHUTDOWN_GRACE, after which uvicorn cancels what
# is still running): the time to run the app's shutdown and exit, before a worker is killed.
EXIT_MARGIN_S = 10.0
# A worker's status when the index cannot be loaded, as `peelqa serve` itself exits.
EXIT_INDEX = 3


def supervise(settings: Settings) -> int:
    """Run `settings.worker_count` server processes until SIGINT or SIGTERM; return the exit
    status. Each worker is handed the whole `settings` (pickled by multiprocessing)."""
    workers = settings.worker_count
    ctx = multiprocessing.get_context("spawn")  # each worker loads everything after the fork
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    def start(n: int) -> tuple[BaseProcess, float]:
        proc = ctx.Process(target=_serve_one, args=(settings,), name=f"peelqa-worker-{n}")
        proc.start()
        return proc, time.monotonic()

    running = [start(n) for n in range(workers)]
    status = 0
    while not stopping:
        time.sleep(0.2)
        for n, (proc, started) in enumerate(running):
            if proc.exitcode is None or stopping:
                continue
            # Exited by itself soon after its start: it cannot start (the port is taken, the
            # index is damaged), and would fail again. Killed (the OOM killer) or later: restart.
            if proc.exitcode > 0 and time.monotonic() - started < STARTUP_GRACE_S:
                print(
                    f"peelqa: worker {n} exited with {proc.exitcode} while starting; stopping",
                    file=sys.stderr,
                )
                stopping, status = True, EXIT_INDEX if proc.exitcode == EXIT_INDEX else 1
                break
            print(f"peelqa: worker {n} exited with {proc.exitcode}; restarting", file=sys.stderr)
            running[n] = start(n)
    for proc, _ in running:
        if proc.exitcode is None:
            proc.terminate()  # SIGTERM: uvicorn finishes the requests in progress
    deadline = time.monotonic() + settings.shutdown_grace + EXIT_MARGIN_S
    for proc, _ in running:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.exitcode is None:
            proc.kill()
            proc.join()
    return status


def _serve_one(settings: Settings) -> None:
    """One worker: it loads the model and the index in this process, after the fork, then
    listens. Its socket is bound first but listens only once uvicorn starts, so a worker still
    loading is never handed a connection."""
    import threading

    from tqdm import tqdm

    from peelqa.index.store import IndexError_
    from peelqa.runtime import load_components
    from peelqa.server.app import create_app
    from peelqa.server.observability import configure_access_log
    from peelqa.server.serving import serve, uvicorn_config

    # tqdm's default lock is a multiprocessing semaphore; the supervisor's resource tracker
    # would report it as leaked each time a worker stops. A worker needs only a thread lock.
    tqdm.set_lock(threading.RLock())
    sock = listening_socket(settings.host, settings.port)
    try:
        components = load_components(settings)
    except IndexError_ as e:  # changed since the supervisor's check: said as `serve` says it
        print(f"peelqa: {e}", file=sys.stderr)
        sys.exit(EXIT_INDEX)
    configure_access_log()
    if not serve(
        uvicorn_config(create_app(settings, components=components), settings), sockets=[sock]
    ):
        sys.exit(1)


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound socket that shares the port with the other workers' (not yet listening)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def main() -> None:
    """`python -m peelqa.server.workers --settings-fd N`: the settings arrive as JSON on an
    inherited pipe (not in argv, where `ps` would show any key)."""
    p = argparse.ArgumentParser(prog="python -m peelqa.server.workers")
    p.add_argument("--settings-fd", type=int, required=True)
    a = p.parse_args()
    with os.fdopen(a.settings_fd, encoding="utf-8") as pipe:
        settings = Settings.from_json(pipe.read())
    sys.exit(supervise(settings))


if __name__ == "__main__":
    main()
