"""The client address (server/proxy.py): X-Forwarded-For is believed only from
PEELQA_TRUSTED_PROXIES, and what reaches the rate limits and the access log is always a valid,
short address, whatever a client sends."""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from services import peelqa_serve, served_in_thread, server_env

from peelqa.config import Settings
from peelqa.runtime import Components
from peelqa.server.app import create_app
from peelqa.server.proxy import canonical, forwarded_client, parse_networks

pytestmark = pytest.mark.live

LOOPBACK = parse_networks("127.0.0.1, ::1")


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "client"),
    [
        # Nearest proxy trusted: the address it added is the client.
        ("127.0.0.1", "203.0.113.9", "127.0.0.1", "203.0.113.9"),
        # A client's own forgery sits to the left of what the trusted proxy added: ignored.
        ("127.0.0.1", "198.51.100.1, 203.0.113.9", "127.0.0.1", "203.0.113.9"),
        # Two trusted hops: walked past both.
        ("127.0.0.1", "203.0.113.9, 10.0.0.5", "127.0.0.1,10.0.0.0/8", "203.0.113.9"),
        # Every hop trusted: the farthest one.
        ("127.0.0.1", "10.0.0.7, 10.0.0.5", "127.0.0.1,10.0.0.0/8", "10.0.0.7"),
        # Garbage from the client through a proxy that passed it on: the proxy is the client.
        ("127.0.0.1", "not-an-ip", "127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", "x" * 5000, "127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", "203.0.113.9, " + "9" * 70, "127.0.0.1", "127.0.0.1"),
        # IPv6, and IPv4 written as IPv6, come out canonical.
        ("127.0.0.1", "2001:DB8:0:0::1", "127.0.0.1", "2001:db8::1"),
        ("127.0.0.1", "::ffff:203.0.113.9", "127.0.0.1", "203.0.113.9"),
    ],
)
def test_forwarded_for_is_read_from_the_right(
    peer: str, header: str, trusted: str, client: str
) -> None:
    assert forwarded_client(peer, header, parse_networks(trusted)) == client


def test_a_header_of_many_hops_is_read_only_so_far() -> None:
    header = ", ".join(["10.0.0.1"] * 100_000 + ["203.0.113.9"])
    started = time.perf_counter()
    assert forwarded_client("127.0.0.1", header, LOOPBACK) == "203.0.113.9"
    assert time.perf_counter() - started < 0.05


@pytest.mark.parametrize("value", ["localhost", "10.0.0.0/33", "127.0.0.1,,nope"])
def test_trusted_proxies_must_be_addresses_or_networks(value: str) -> None:
    with pytest.raises(ValueError, match="PEELQA_TRUSTED_PROXIES"):
        parse_networks(value)


def test_canonical_refuses_what_is_not_an_address() -> None:
    assert canonical("127.0.0.1") == "127.0.0.1"
    for bad in ("", "1.2.3", "1.2.3.4.5", "a" * 1000, "127.0.0.1:80", "<script>"):
        assert canonical(bad) is None


def in_process(
    settings: Settings, components: Components, peer: str, **update: object
) -> TestClient:
    app = create_app(settings.model_copy(update=update), components=components)
    return TestClient(app, client=(peer, 40000))


def test_forwarded_for_is_ignored_unless_the_peer_is_trusted(
    main_settings: Settings, components: Components, caplog: pytest.LogCaptureFixture
) -> None:
    spoof = {"X-Forwarded-For": "203.0.113.66"}
    with (
        in_process(main_settings, components, "127.0.0.1") as default,
        in_process(main_settings, components, "127.0.0.1", trusted_proxies="10.0.0.1") as other,
        in_process(main_settings, components, "127.0.0.1", trusted_proxies="127.0.0.1") as ours,
        caplog.at_level(logging.INFO, logger="peelqa.access"),
    ):
        default.get("/healthz", headers=spoof)
        other.get("/healthz", headers=spoof)
        ours.get("/healthz", headers=spoof)
    callers = [json.loads(r.getMessage())["caller"] for r in caplog.records[-3:]]
    assert callers == ["ip:127.0.0.1", "ip:127.0.0.1", "ip:203.0.113.66"]


def test_a_burst_with_made_up_forwarded_for_stays_limited(
    main_settings: Settings, components: Components
) -> None:
    """uvicorn's default trusts X-Forwarded-For from 127.0.0.1: each request of a burst from
    a local script with a fresh made-up address had a rate limit of its own."""
    settings = main_settings.model_copy(update={"rate_limit": 3})
    with served_in_thread(create_app(settings, components=components), settings) as url:
        codes = [
            httpx.get(
                f"{url}/v1/models", headers={"X-Forwarded-For": f"198.51.100.{n}"}
            ).status_code
            for n in range(6)
        ]
    assert codes == [200, 200, 200, 429, 429, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(
    main_settings: Settings, components: Components
) -> None:
    settings = main_settings.model_copy(update={"rate_limit": 2, "trusted_proxies": "127.0.0.1"})
    with served_in_thread(create_app(settings, components=components), settings) as url:

        def get(client: str) -> int:
            return httpx.get(f"{url}/v1/models", headers={"X-Forwarded-For": client}).status_code

        assert [get("203.0.113.1") for _ in range(3)] == [200, 200, 429]
        assert [get("203.0.113.2") for _ in range(3)] == [200, 200, 429]
        # A value that is no address falls back to the proxy's own, limited like any caller.
        assert [get(f"junk-{n}") for n in range(3)] == [200, 200, 429]
        # IPv6 clients are counted by their /64: each address of it is not a fresh caller.
        assert [get(f"2001:db8:1:2::{n:x}") for n in range(1, 4)] == [200, 200, 429]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def send_raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return reply


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_megabyte_forwarded_for_values_grow_neither_memory_nor_the_log(
    main_settings: Settings, tmp_path: Path, trusted: str
) -> None:
    """100 requests with distinct 1 MB X-Forwarded-For values grew the server by ~100 MB for
    good (each a rate-limit key) and wrote 1 MB access-log lines. Now they are refused at the
    header limit, and a header within it that is no address never becomes a key or a log
    line."""
    log = tmp_path / "server.log"
    env = server_env(main_settings, PEELQA_RATE_LIMIT="100000", PEELQA_TRUSTED_PROXIES=trusted)
    with peelqa_serve(env, log=log) as server:
        before = rss_kb(server.proc.pid)
        huge = [
            send_raw(
                server.port,
                b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"X-Forwarded-For: " + str(n).encode() * (1_000_000 // len(str(n))) + b"\r\n\r\n",
            )
            for n in range(1, 101)
        ]
        # Within the header limit: 12 KB of something that is not an address.
        near = [
            httpx.get(
                f"{server.url}/v1/models",
                headers={"X-Forwarded-For": f"{n}-" + "z" * 12_000},
            )
            for n in range(100)
        ]
        grown_mb = (rss_kb(server.proc.pid) - before) / 1024
    assert all(r.startswith(b"HTTP/1.1 431 ") for r in huge), huge[0][:100]
    assert all(r.status_code == 200 for r in near)
    assert grown_mb < 20, f"the server grew by {grown_mb:.0f} MB"
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    assert len(lines) >= 100 and max(map(len, lines)) < 400


def test_access_log_lines_stay_short_whatever_the_forwarded_for(
    main_settings: Settings, components: Components, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        in_process(main_settings, components, "127.0.0.1", trusted_proxies="127.0.0.1") as c,
        caplog.at_level(logging.INFO, logger="peelqa.access"),
    ):
        for n in range(20):
            forged = str(n).encode() + "\u2028x\n".encode() * 3000
            c.get("/v1/models", headers={"X-Forwarded-For": forged})
    lines = [r.getMessage() for r in caplog.records if r.name == "peelqa.access"][-20:]
    assert all(len(line) < 400 for line in lines), max(map(len, lines))
    assert all(json.loads(line)["caller"] == "ip:127.0.0.1" for line in lines)
