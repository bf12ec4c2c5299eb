"""Real services for the tests, started by the tests themselves: Redis and nginx from Debian's
packages, and `peelqa serve` as a user runs it, each on a free loopback port with its files in
a temporary folder (never a system-wide instance, never a fixed port)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from peelqa.config import Settings
from peelqa.server.serving import uvicorn_config

PEELQA = [sys.executable, "-m", "peelqa.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(name: str, *candidates: str) -> str:
    """The program's path. Missing: a failure in CI (`.ci/run` installs it), else a skip."""
    for path in (shutil.which(name), *candidates):
        if path and Path(path).is_file():
            return path
    if os.environ.get("CI"):
        pytest.fail(f"CI must have {name}: .ci/run installs it with apt-get")
    pytest.skip(f"{name} is not installed here (apt-get install -y {name} to run these)")


def wait_for_port(
    port: int, *, proc: subprocess.Popen[str] | None = None, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


def stop(proc: subprocess.Popen[str], *, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Redis:
    url: str
    port: int
    proc: subprocess.Popen[str]


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[Redis]:
    """`redis-server` with no persistence, its files in `folder`."""
    exe = binary("redis-server", "/usr/bin/redis-server")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--protected-mode", "yes", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        wait_for_port(port, proc=proc)
        yield Redis(url=f"redis://127.0.0.1:{port}/0", port=port, proc=proc)
    finally:
        stop(proc)


NGINX_CONF = """\
# Written by the test; nginx runs with -p {prefix} and this file only.
{user}
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    upstream peelqa {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://peelqa;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # The client as nginx saw it, replacing whatever the client sent.
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;
            # A server that is down (refused, reset, 502/503) is skipped and the request is
            # sent to the next. An answer is a function of the question, so a POST to /v1 is
            # safe to send again (non_idempotent).
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 2;
        }}
    }}
}}
"""


@dataclass
class Nginx:
    url: str
    port: int
    proc: subprocess.Popen[str]
    prefix: Path


@contextlib.contextmanager
def nginx(folder: Path, upstreams: list[int]) -> Iterator[Nginx]:
    """nginx in front of peelqa servers on `upstreams` (loopback ports), round robin."""
    exe = binary("nginx", "/usr/sbin/nginx")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "\n".join(
        # A server that failed is left out for 2 s, then tried again (nginx's defaults, shorter).
        f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;"
        for p in upstreams
    )
    # As root the workers would switch to `nobody`, who cannot enter a private temp folder.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(prefix=folder, user=user, servers=servers, port=port), encoding="utf-8"
    )
    proc = subprocess.Popen(
        [exe, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, proc=proc)
        yield Nginx(url=f"http://127.0.0.1:{port}", port=port, proc=proc, prefix=folder)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)  # graceful: finish and exit
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


@dataclass
class Served:
    url: str
    port: int
    proc: subprocess.Popen[str]


@contextlib.contextmanager
def peelqa_serve(
    env: dict[str, str],
    *extra: str,
    log: Path | None = None,
    port: int | None = None,
    timeout: float = 120,
) -> Iterator[Served]:
    """`peelqa serve` as a user runs it, until `/healthz` answers 200; its stderr (the server
    log and the JSON access log) goes to `log`."""
    port = port or free_port()
    with open(log or os.devnull, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [*PEELQA, "serve", "--port", str(port), *extra],
            env={"HF_HUB_OFFLINE": "1", **env},
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, f"peelqa serve exited with {proc.returncode}"
            assert time.monotonic() < deadline, "peelqa serve did not become ready"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield Served(url=url, port=port, proc=proc)
    finally:
        stop(proc)


def server_env(settings: Settings, **variables: str) -> dict[str, str]:
    """The environment of a server over `settings`'s corpus and index, one worker."""
    return {
        **os.environ,
        "PEELQA_CORPUS": str(settings.corpus),
        "PEELQA_INDEX": str(settings.index),
        "PEELQA_WORKERS": "1",
        **variables,
    }


@contextlib.contextmanager
def served_in_thread(app: FastAPI, settings: Settings) -> Iterator[str]:
    """`app` under uvicorn configured as `peelqa serve` configures it (server/serving.py), in a
    thread of this process; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        host, port = sock.getsockname()
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
