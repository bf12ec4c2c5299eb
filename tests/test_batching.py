"""The batching embedder: concurrent encodes share one encoder run; a full queue is a 503."""

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import served_by
from fastapi.testclient import TestClient

from peelqa.config import Settings
from peelqa.encoder.base import Embedder, Vectors
from peelqa.encoder.batching import BatchingEmbedder, EncoderBusy
from peelqa.runtime import Components
from peelqa.server.app import create_app

QUESTIONS = [
    "What grade did the force get?",
    "How are vulnerable callers assessed?",
    "What is HMIC concerned about in how crime is allocated?",
    "Does integrated offender management include violent offenders?",
    "What is the THRIVE approach used for?",
    "How does the force tackle organised crime groups?",
    "Who was inspected?",
    "What should the force do next?",
]


class Gated:
    """The real encoder behind a gate the test opens: holds the worker inside a batch, so that
    what queues meanwhile is known exactly. Records the size of each batch it runs."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.model_id, self.dim = inner, inner.model_id, inner.dim
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.batches: list[int] = []

    def encode(self, texts: list[str]) -> Vectors:
        self.entered.set()
        assert self.gate.wait(timeout=30), "the test never opened the gate"
        self.batches.append(len(texts))
        return self.inner.encode(texts)


class Failing:
    """An encoder whose every run fails, with the real one's id and size."""

    def __init__(self, real: Embedder) -> None:
        self.model_id, self.dim = real.model_id, real.dim

    def encode(self, texts: list[str]) -> Vectors:
        raise RuntimeError("encoder broke")


@pytest.fixture()
def gated(onnx_embedder: Embedder) -> Iterator[Gated]:
    g = Gated(onnx_embedder)
    yield g
    g.gate.set()


def test_concurrent_encodes_share_one_batch_and_match_single_encodes(
    gated: Gated, onnx_embedder: Embedder
) -> None:
    batcher = BatchingEmbedder(gated)
    try:
        with ThreadPoolExecutor(len(QUESTIONS) + 1) as pool:
            first = pool.submit(batcher.encode, ["warm-up question that holds the worker"])
            assert gated.entered.wait(timeout=30)
            rest = [pool.submit(batcher.encode, [q]) for q in QUESTIONS]
            while batcher.waiting() < len(QUESTIONS):  # all of them waiting
                threading.Event().wait(0.005)
            gated.gate.set()
            first.result(timeout=30)
            got = [f.result(timeout=30) for f in rest]
    finally:
        batcher.close()
    # The first call ran alone; the eight that queued behind it ran as one batch.
    assert gated.batches == [1, len(QUESTIONS)]
    assert batcher.stats.batches == 2 and batcher.stats.largest == len(QUESTIONS)
    for q, vec in zip(QUESTIONS, got, strict=True):
        assert vec.shape == (1, onnx_embedder.dim)
        alone = onnx_embedder.encode([q])
        # Same vectors as one at a time (padding to the batch's longest changes only rounding).
        assert np.abs(vec - alone).max() < 1e-5
        assert float(vec[0] @ alone[0]) > 0.99999


def test_window_collects_calls_that_arrive_shortly_after(onnx_embedder: Embedder) -> None:
    batcher = BatchingEmbedder(onnx_embedder, window_s=0.5)
    try:
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(batcher.encode, [q]) for q in QUESTIONS[:3]]
            vecs = [f.result(timeout=30) for f in futures]
    finally:
        batcher.close()
    assert batcher.stats.batches == 1 and batcher.stats.texts == 3
    assert all(v.shape == (1, onnx_embedder.dim) for v in vecs)


def test_full_queue_refuses_at_once(gated: Gated) -> None:
    batcher = BatchingEmbedder(gated, max_queue=1)
    try:
        with ThreadPoolExecutor(2) as pool:
            held = pool.submit(batcher.encode, [QUESTIONS[0]])  # in the encoder
            assert gated.entered.wait(timeout=30)
            queued = pool.submit(batcher.encode, [QUESTIONS[1]])  # fills the queue of one
            while batcher.waiting() < 1:
                threading.Event().wait(0.005)
            with pytest.raises(EncoderBusy, match="already waiting"):
                batcher.encode([QUESTIONS[2]])
            gated.gate.set()
            assert held.result(timeout=30).shape == (1, gated.dim)
            assert queued.result(timeout=30).shape == (1, gated.dim)
    finally:
        batcher.close()


def test_an_encoder_failure_reaches_every_caller(onnx_embedder: Embedder) -> None:
    batcher = BatchingEmbedder(Failing(onnx_embedder))
    try:
        with pytest.raises(RuntimeError, match="encoder broke"):
            batcher.encode(["anything"])
    finally:
        batcher.close()


@pytest.mark.parametrize("where", ["api", "encoder queue"])
def test_overload_is_503_with_retry_after(
    main_settings: Settings, components: Components, onnx_embedder: Embedder, where: str
) -> None:
    # "api": one question may be in progress, so the second is refused before any model work;
    # "encoder queue": the API admits it but the loop's batch (of one) is already full. The
    # first question waits in its batch for the window, long enough to be refused beside.
    api_limit, queue_limit = (1, 8) if where == "api" else (8, 1)
    settings = main_settings.model_copy(update={"max_queue": api_limit})
    batcher = BatchingEmbedder(onnx_embedder, window_s=1.0, max_queue=queue_limit)
    with (
        TestClient(create_app(settings, components=served_by(components, batcher))) as client,
        ThreadPoolExecutor(1) as pool,
    ):
        first = pool.submit(client.post, "/v1/ask", json={"question": QUESTIONS[0]})
        while not batcher.waiting():  # waiting for its batch
            threading.Event().wait(0.005)
        r = client.post("/v1/ask", json={"question": QUESTIONS[2]})
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == "busy"
        ok = first.result(timeout=60)
        assert ok.status_code == 200
        assert ok.json()["citations"][0]["section"] == "conclusion"  # a real answer
    assert batcher.stats.batches == 1  # the refused question never reached the encoder


def test_coroutines_share_one_batch_on_the_loop(gated: Gated, onnx_embedder: Embedder) -> None:
    """The server's encodes, awaited together, run as one batch on the loop, with the vectors
    each question gets alone."""
    gated.gate.set()
    batcher = BatchingEmbedder(gated)

    async def main() -> list[Vectors]:
        return list(await asyncio.gather(*(batcher.encode_async([q]) for q in QUESTIONS)))

    got = asyncio.run(main())
    assert gated.batches == [len(QUESTIONS)]
    assert batcher._worker is None  # no thread was needed
    for q, vec in zip(QUESTIONS, got, strict=True):
        assert np.abs(vec - onnx_embedder.encode([q])).max() < 1e-5


def test_each_event_loop_batches_its_own_questions(onnx_embedder: Embedder) -> None:
    """Apps on several loops (tests, embedded servers) share one batcher: each loop runs the
    batches of its own questions, and no vector crosses to another loop's caller (whose loop
    would never wake for it). The window keeps both loops' questions waiting at once."""
    batcher = BatchingEmbedder(onnx_embedder, window_s=0.1)
    halves = [QUESTIONS[:4], QUESTIONS[4:]]
    got: dict[int, list[Vectors]] = {}

    def on_a_loop(n: int) -> None:
        async def main() -> list[Vectors]:
            return list(await asyncio.gather(*(batcher.encode_async([q]) for q in halves[n])))

        got[n] = asyncio.run(main())

    # Daemons: a loop that never wakes must fail the test, not hang the run.
    threads = [threading.Thread(target=on_a_loop, args=(n,), daemon=True) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(got) == [0, 1], "a loop never got its vectors"
    for n, questions in enumerate(halves):
        for q, vec in zip(questions, got[n], strict=True):
            assert np.abs(vec - onnx_embedder.encode([q])).max() < 1e-5
    assert batcher.waiting() == 0 and not batcher._pending  # no loop is kept


def test_a_full_batch_refuses_at_once_on_the_loop(gated: Gated) -> None:
    gated.gate.set()
    batcher = BatchingEmbedder(gated, window_s=0.2, max_queue=2)

    async def main() -> None:
        waiting = [asyncio.ensure_future(batcher.encode_async([q])) for q in QUESTIONS[:2]]
        await asyncio.sleep(0)
        with pytest.raises(EncoderBusy, match="already waiting"):
            await batcher.encode_async([QUESTIONS[2]])
        assert all(v.shape == (1, gated.dim) for v in await asyncio.gather(*waiting))

    asyncio.run(main())
    assert gated.batches == [2]


def test_a_batch_never_exceeds_max_batch_on_the_loop(gated: Gated) -> None:
    gated.gate.set()
    batcher = BatchingEmbedder(gated, max_batch=3)

    async def main(calls: list[list[str]]) -> None:
        await asyncio.gather(*(batcher.encode_async(texts) for texts in calls))

    asyncio.run(main([[q] for q in QUESTIONS]))
    assert gated.batches == [3, 3, 2]
    # Counted in texts: a follow-up brings two (with its context, and alone).
    gated.batches.clear()
    asyncio.run(main([QUESTIONS[:2], QUESTIONS[2:4], QUESTIONS[4:5]]))
    assert gated.batches == [2, 3]


def test_an_encoder_failure_reaches_every_coroutine(onnx_embedder: Embedder) -> None:
    batcher = BatchingEmbedder(Failing(onnx_embedder))

    async def main() -> list[BaseException | Vectors]:
        calls = (batcher.encode_async([q]) for q in QUESTIONS[:3])
        return list(await asyncio.gather(*calls, return_exceptions=True))

    assert [str(e) for e in asyncio.run(main())] == ["encoder broke"] * 3


def test_an_abandoned_encode_leaves_the_batch_unencoded(gated: Gated) -> None:
    """A caller cancelled while it waits for its batch (its deadline passed) costs the encoder
    nothing."""
    gated.gate.set()
    batcher = BatchingEmbedder(gated, window_s=0.2)

    async def main() -> None:
        gone = asyncio.ensure_future(batcher.encode_async([QUESTIONS[1]]))
        kept = asyncio.ensure_future(batcher.encode_async([QUESTIONS[2]]))
        while batcher.waiting() < 2:
            await asyncio.sleep(0.005)
        gone.cancel()
        assert (await kept).shape == (1, gated.dim)
        assert gone.cancelled()

    asyncio.run(main())
    assert gated.batches == [1]  # the cancelled question was never encoded
