"""peelqa as docs/deployment.md deploys it: two `peelqa serve` replicas behind a real nginx
(its config written here, `-p` a temporary folder, a free loopback port), counting their rate
limits in one real Redis. The replicas trust nginx's X-Forwarded-For (PEELQA_TRUSTED_PROXIES);
clients connect from different loopback addresses (127.0.0.x), as different people would."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pg import Postgres
from services import Redis, nginx, peelqa_serve, redis_server, server_env

from peelqa.config import Settings

pytestmark = pytest.mark.live

KEY = "deployment-key-0123456789"
SHARED_KEY = "widget-public-key-0123456789"
ADMIN_KEY = "deployment-admin-0123456789"
LIMIT = 40


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    with redis_server(tmp_path_factory.mktemp("redis")) as r:
        yield r


def client_at(address: str, key: str = KEY) -> httpx.Client:
    """A client whose connections come from `address` (any 127.0.0.x is this machine)."""
    return httpx.Client(
        transport=httpx.HTTPTransport(local_address=address),
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def served_requests(log: Path) -> int:
    return sum('"route": "/v1/models"' in line for line in log.read_text().splitlines())


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "memory"])
def test_two_replicas_behind_nginx_share_one_keys_limit(
    main_settings: Settings, redis: Redis, tmp_path: Path, shared: bool
) -> None:
    """With Redis the key's limit holds across both replicas (within 5%); counted in each
    replica's memory, a caller gets each replica's share: twice the limit (the control)."""
    env = server_env(
        main_settings,
        PEELQA_API_KEYS=f"{KEY},{SHARED_KEY}",
        PEELQA_RATE_LIMIT=str(LIMIT),
        PEELQA_KEY_RATE_LIMIT=str(LIMIT),
        PEELQA_TRUSTED_PROXIES="127.0.0.1",
        PEELQA_REDIS_URL=redis.url if shared else "",
    )
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with (
        peelqa_serve(env, log=logs[0]) as a,
        peelqa_serve(env, log=logs[1]) as b,
        nginx(tmp_path / "nginx", [a.port, b.port]) as proxy,
    ):
        # One caller at its own (key, address) limit...
        with client_at("127.0.0.2") as one:
            alone = [one.get(f"{proxy.url}/v1/models").status_code for _ in range(2 * LIMIT)]
        # ...and another key's ceiling over four addresses together (a widget's key).
        together: list[int] = []
        for n in range(3, 7):
            with client_at(f"127.0.0.{n}", SHARED_KEY) as caller:
                together += [caller.get(f"{proxy.url}/v1/models").status_code for _ in range(20)]
    assert set(alone) <= {200, 429} and set(together) <= {200, 429}
    # Both replicas answered: nginx spread the requests.
    assert all(served_requests(log) > LIMIT // 2 for log in logs)
    expected = LIMIT if shared else 2 * LIMIT
    for codes in (alone, together):
        assert abs(codes.count(200) - expected) <= 0.05 * expected, (shared, codes.count(200))


def test_a_replica_killed_under_load_loses_no_request(
    main_settings: Settings, tmp_path: Path
) -> None:
    """SIGKILL one replica (the OOM killer) in the middle of a load of questions: nginx sends
    what it could not deliver to the other one (proxy_next_upstream), and every request is
    answered 200."""
    env = server_env(main_settings, PEELQA_RATE_LIMIT="0", PEELQA_ANSWER_CACHE="0")
    questions = [
        "What grade did the force get?",
        "How are vulnerable callers assessed?",
        "What does the report say about training?",
        "How does the force tackle anti-social behaviour?",
    ]
    with (
        peelqa_serve(env, log=tmp_path / "a.log") as a,
        peelqa_serve(env, log=tmp_path / "b.log") as b,
        nginx(tmp_path / "nginx", [a.port, b.port]) as proxy,
    ):
        codes: list[int | str] = []
        stop = threading.Event()

        def ask(n: int) -> None:
            with httpx.Client(timeout=30) as client:
                while not stop.is_set():
                    try:
                        r = client.post(f"{proxy.url}/v1/ask", json={"question": questions[n % 4]})
                        codes.append(r.status_code)
                    except httpx.HTTPError as e:
                        codes.append(type(e).__name__)

        threads = [threading.Thread(target=ask, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        before = len(codes)
        a.proc.send_signal(signal.SIGKILL)
        time.sleep(2.5)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert b.proc.poll() is None
    assert before > 20 and len(codes) > before + 20, (before, len(codes))
    assert set(codes) == {200}, {c: codes.count(c) for c in set(codes)}


def test_replicas_share_feedback_and_usage_through_postgresql(
    main_settings: Settings, redis: Redis, postgres: Postgres, tmp_path: Path
) -> None:
    """Two replicas behind nginx with one PostgreSQL database (and one Redis): an answer given
    by either replica is rated through the other, and each replica's admin API reads all the
    feedback and counts every question."""
    env = server_env(
        main_settings,
        PEELQA_DATABASE_URL=postgres.create_database(),
        PEELQA_REDIS_URL=redis.url,
        PEELQA_ADMIN_KEYS=ADMIN_KEY,
        PEELQA_TRUSTED_PROXIES="127.0.0.1",
        PEELQA_ANSWER_CACHE="0",
    )
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    question = "What grade did the force get?"
    with (
        peelqa_serve(env, log=tmp_path / "a.log") as a,
        peelqa_serve(env, log=tmp_path / "b.log") as b,
        nginx(tmp_path / "nginx", [a.port, b.port]) as proxy,
    ):
        # Asked of each replica, rated through the other one.
        pairs = [(a, b), (b, a)]
        for asked, rated in pairs:
            answer = httpx.post(f"{asked.url}/v1/ask", json={"question": question}, timeout=30)
            assert answer.status_code == 200, answer.text
            answer_id = answer.json()["id"]
            deadline = time.monotonic() + 10  # the answer is written by a background thread
            while True:
                sent = httpx.post(
                    f"{rated.url}/v1/feedback",
                    json={"answer_id": answer_id, "rating": "up", "comment": asked.url},
                    timeout=30,
                )
                if sent.status_code != 404 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert sent.status_code == 201, sent.text
        # Through nginx (either replica) and from each replica: the same two ratings.
        for url in (proxy.url, a.url, b.url):
            listed = httpx.get(f"{url}/v1/feedback", headers=admin, timeout=30)
            assert listed.status_code == 200, listed.text
            comments = {item["comment"] for item in listed.json()}
            assert comments == {a.url, b.url}, listed.json()
        usage = httpx.get(f"{proxy.url}/v1/usage", headers=admin, timeout=30).json()
        assert sum(day["questions"] for day in usage["days"]) >= 2, usage
