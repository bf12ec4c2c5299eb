"""The command line and a live server, as a user runs them."""

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import DEV_SET, REPORT

from peelqa.config import Settings
from peelqa.index.store import current_generation
from peelqa.runtime import Components

pytestmark = pytest.mark.live

PEELQA = [sys.executable, "-m", "peelqa.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def env(corpus: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PEELQA_CORPUS": str(corpus),
        "PEELQA_INDEX": str(tmp_path / "index"),
    }


@contextlib.contextmanager
def serving(env: dict[str, str], *extra: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    proc = subprocess.Popen(
        [*PEELQA, "serve", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        if proc.poll() is None:
            proc.kill()
        assert proc.stderr is not None
        proc.stderr.close()


def test_serve_builds_a_missing_index_then_answers_and_rebuilds_when_stale(
    env: dict[str, str],
) -> None:
    with serving(env) as (url, proc):
        assert proc.poll() is None
        r = httpx.post(
            url + "/v1/ask", json={"question": "What grade did the force get?"}, timeout=30
        )
        body = r.json()
        assert body["answered"] and body["citations"][0]["section"] == "conclusion"
        assert httpx.get(url + "/").status_code == 200
    before = current_generation(Path(env["PEELQA_INDEX"])).name
    report = Path(env["PEELQA_CORPUS"]) / REPORT.name
    report.write_text(
        report.read_text() + "\n\nNext steps\n\nThe force will publish a plan in May.\n"
    )
    with serving(env) as (url, _):
        sections = httpx.get(url + "/v1/sections", timeout=10).json()
        assert "next-steps" in [s["section"] for s in sections]
    assert current_generation(Path(env["PEELQA_INDEX"])).name != before


def test_serve_refuses_a_corrupt_index_and_says_what_to_do(env: dict[str, str]) -> None:
    subprocess.run([*PEELQA, "build"], env=env, check=True, capture_output=True)
    gen = current_generation(Path(env["PEELQA_INDEX"]))
    (gen / "sentences.npy").write_bytes(b"garbage")
    r = subprocess.run(
        [*PEELQA, "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 3
    assert "corrupt" in r.stderr and "peelqa build" in r.stderr


def test_ask_json_prints_the_api_object(env: dict[str, str], client) -> None:  # type: ignore[no-untyped-def]
    q = "What is the THRIVE approach used for?"
    r = subprocess.run(
        [*PEELQA, "ask", q, "--json"], env=env, capture_output=True, text=True, check=True
    )
    printed, served = json.loads(r.stdout), client.post("/v1/ask", json={"question": q}).json()
    assert printed.pop("id") != served.pop("id")  # every answer is named anew
    assert printed == served
    plain = subprocess.run([*PEELQA, "ask", q], env=env, capture_output=True, text=True, check=True)
    assert "[1]" in plain.stdout and "q3" in plain.stdout


def test_ask_rejects_an_empty_question(env: dict[str, str]) -> None:
    r = subprocess.run([*PEELQA, "ask", "   "], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "empty" in r.stderr


def test_build_shows_progress_and_counts(env: dict[str, str]) -> None:
    r = subprocess.run([*PEELQA, "build"], env=env, capture_output=True, text=True, check=True)
    assert "embedding" in r.stderr and "100%" in r.stderr
    assert "6 sections" in r.stdout


def test_eval_prints_the_figures(env: dict[str, str]) -> None:
    r = subprocess.run(
        [*PEELQA, "eval", str(DEV_SET), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    figs = json.loads(r.stdout)["figures"]
    assert set(figs) >= {
        "section_at_1",
        "facts",
        "false_abstain",
        "abstain_ok",
        "injection_ok",
        "all_ok",
    }
    assert figs["all_ok"] >= 80
    table = subprocess.run(
        [*PEELQA, "eval", str(DEV_SET)], env=env, capture_output=True, text=True, check=True
    )
    assert "all_ok" in table.stdout


def test_serve_workers_start_processes_that_load_onnx_not_torch(
    main_settings: Settings, components: Components
) -> None:
    # The session's main index already carries the ONNX export: the workers only load it.
    env = main_env(main_settings)
    with serving(env, "--workers", "2") as (url, proc):
        for _ in range(4):
            r = httpx.post(url + "/v1/ask", json={"question": "What grade did the force get?"})
            assert r.status_code == 200 and r.json()["citations"][0]["section"] == "conclusion"
        workers = worker_pids(proc.pid)
        assert len(workers) == 2
        for pid in workers:  # each worker runs ONNX Runtime and never loaded torch
            # The first worker to be ready answered above; the other may still be loading.
            deadline = time.monotonic() + 60
            while "onnxruntime" not in (maps := Path(f"/proc/{pid}/maps").read_text()):
                assert time.monotonic() < deadline, f"worker {pid} never loaded onnxruntime"
                time.sleep(0.2)
            assert "libtorch" not in maps
        port = int(url.rsplit(":", 1)[1])
        wait_listening(proc, port)  # each on a socket of its own once its app has loaded
        # The supervisor is a small process of its own, not the CLI holding the index stack.
        assert "peelqa.server.workers" in Path(f"/proc/{proc.pid}/cmdline").read_text()
        # Bursts of 32 keep-alive connections opened at once are spread over both workers:
        # a shared listening socket gave a third of such bursts nearly all to one worker (0/32,
        # 6/26); a socket per worker leaves fewer than 4 on one with a chance of ~1e-6.
        for _ in range(3):
            held = asyncio.run(
                burst(port, 32, lambda: [tcp_sockets(p, port, ESTABLISHED) for p in workers])
            )
            assert sum(held) == 32 and min(held) >= 4, held


async def burst(port: int, n: int, count: Callable[[], list[int]]) -> list[int]:
    """Open `n` connections at once, make a request on each, and count them while open."""
    conns = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(n)))
    try:
        for _, writer in conns:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: peelqa\r\n\r\n")
        for reader, _ in conns:
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        return count()
    finally:
        for _, writer in conns:
            writer.close()


ESTABLISHED, LISTEN = "01", "0A"


def tcp_sockets(pid: str, port: int, state: str) -> int:
    """TCP sockets on `port` in `state` ("01" established, "0A" listening) held by `pid`."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            local_port, st, inode = int(f[1].rsplit(":", 1)[1], 16), f[3], f[9]
            count += local_port == port and st == state and inode in inodes
    return count


def test_serve_workers_restarts_a_killed_worker(main_settings: Settings) -> None:
    env = main_env(main_settings)
    with serving(env, "--workers", "2") as (url, proc):
        port = int(url.rsplit(":", 1)[1])
        before = wait_listening(proc, port)
        os.kill(int(before[0]), signal.SIGKILL)  # as the OOM killer would
        deadline = time.monotonic() + 90
        while len(now := worker_pids(proc.pid)) < 2 or before[0] in now:
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.3)
        assert before[1] in now and proc.poll() is None
        wait_listening(proc, port)  # the replacement loads, then takes connections again
        r = httpx.post(url + "/v1/ask", json={"question": "What grade did the force get?"})
        assert r.status_code == 200


def test_serve_workers_stop_cleanly_on_sigterm(main_settings: Settings) -> None:
    """As a container stop sends it: every worker ends, status 0, nothing reported leaked."""
    env = main_env(main_settings)
    port = free_port()
    proc = subprocess.Popen(
        [*PEELQA, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        workers = wait_listening(proc, port)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert "leaked" not in err and "Traceback" not in err, err


def test_serve_workers_stops_when_a_worker_cannot_start(main_settings: Settings) -> None:
    """The port is taken by another program: the server says so and exits, not loops."""
    env = main_env(main_settings)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*PEELQA, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert "while starting" in done.stderr


def main_env(main_settings: Settings) -> dict[str, str]:
    """The environment of a server over the session's main index (it carries the export)."""
    return {
        **os.environ,
        "PEELQA_CORPUS": str(main_settings.corpus),
        "PEELQA_INDEX": str(main_settings.index),
    }


def wait_listening(proc: subprocess.Popen[str], port: int, workers: int = 2) -> list[str]:
    """Wait until `workers` workers each listen on `port`; return their pids."""
    deadline = time.monotonic() + 120
    while len(pids := worker_pids(proc.pid)) < workers or not all(
        tcp_sockets(pid, port, LISTEN) == 1 for pid in pids
    ):
        assert proc.poll() is None and time.monotonic() < deadline, "workers never listened"
        time.sleep(0.2)
    return pids


def worker_pids(supervisor: int) -> list[str]:
    return [
        pid
        for pid in Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
        if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
    ]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_with_a_stalled_client_exits_0_within_the_grace_period(
    main_settings: Settings, workers: str
) -> None:
    """A container stop: status 0 (one process died of its own SIGTERM, -15), and a client
    that stalled mid-body does not hold the stop beyond PEELQA_SHUTDOWN_GRACE."""
    env = {
        **main_env(main_settings),
        "PEELQA_SHUTDOWN_GRACE": "2",
        "PEELQA_BODY_TIMEOUT": "120",  # the stall outlasts the test unless the grace ends it
    }
    port = free_port()
    proc = subprocess.Popen(
        [*PEELQA, "serve", "--port", str(port), "--workers", workers],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stalled = None
    try:
        wait_listening(proc, port, workers=int(workers)) if workers != "1" else wait_healthy(port)
        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.sendall(
            b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"question": '
        )
        time.sleep(0.5)  # the request is in the app, reading its body
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if stalled is not None:
            stalled.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert took < 2 + 8, f"stopped after {took:.1f} s"
    assert "Traceback" not in err and "leaked" not in err, err


def wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError("the server never answered /healthz")


def test_serve_workers_refuse_a_corrupt_index_as_one_process_does(env: dict[str, str]) -> None:
    """It printed "serving", then each worker died with a traceback and the status was 1."""
    subprocess.run([*PEELQA, "build"], env=env, check=True, capture_output=True)
    gen = current_generation(Path(env["PEELQA_INDEX"]))
    (gen / "sentences.npy").write_bytes(b"garbage")
    r = subprocess.run(
        [*PEELQA, "serve", "--port", str(free_port()), "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 3, r.stderr
    assert "corrupt" in r.stderr and "peelqa build" in r.stderr
    assert "serving" not in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_serve_runs_one_worker_per_core_by_default(main_settings: Settings) -> None:
    from peelqa.config import usable_cores

    cores = usable_cores()
    env = {k: v for k, v in main_env(main_settings).items() if k != "PEELQA_WORKERS"}
    with serving(env) as (url, proc):
        assert httpx.get(url + "/healthz").status_code == 200
        if cores > 1:
            assert len(wait_listening(proc, int(url.rsplit(":", 1)[1]), workers=cores)) == cores
        else:
            assert worker_pids(proc.pid) == []
