"""The app's lifespan: heavy objects (model, index, LLM client) are made here, not at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
from fastapi import FastAPI

from peelqa.config import Settings
from peelqa.generation.generator import open_generator
from peelqa.index.store import IndexError_, read_manifest
from peelqa.metrics import Metrics
from peelqa.runtime import Components, load_components
from peelqa.server.library import Library
from peelqa.server.ratelimit import RateLimits
from peelqa.server.service import AnswerService
from peelqa.storage.service import Storage

log = logging.getLogger("peelqa")

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def lifespan_of(
    settings: Settings,
    *,
    components: Components | None,
    metrics: Metrics,
    limits: RateLimits | None = None,
) -> Lifespan:
    """With `components` the app serves those; else it loads the real ones at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if limits is not None and not await limits.check():
            log.warning(
                "rate limits: Redis at PEELQA_REDIS_URL is not answering; counting in this "
                "process until it does"
            )
        # Loading the model and the index is seconds of CPU: keep it off the event loop.
        loaded = (
            components
            if components is not None
            else await anyio.to_thread.run_sync(load_components, settings)
        )
        # Answers, feedback and usage: opened (and migrated) off the loop, a thread of its own.
        storage = await anyio.to_thread.run_sync(lambda: Storage.open(settings, metrics=metrics))
        app.state.storage = storage
        try:
            # The LLM server's client, only when one is configured (PEELQA_LLM_URL).
            async with open_generator(
                settings=settings, index=loaded.index, metrics=metrics
            ) as gen:
                service = AnswerService(
                    components=loaded,
                    generator=gen,
                    metrics=metrics,
                    max_queue=settings.max_queue,
                    storage=storage,
                )
                library = Library(
                    settings=settings,
                    service=service,
                    attached=components is None or _serves_index(loaded, settings),
                )
                async with library.running():
                    app.state.service, app.state.library = service, library
                    yield
        finally:
            app.state.service = app.state.library = None
            app.state.storage = None
            await anyio.to_thread.run_sync(storage.close)  # writes what is still queued
            if limits is not None:
                await limits.close()
        if components is None:
            closing = getattr(loaded.embedder, "close", None)
            if closing is not None:
                closing()  # stop the encoder worker this app started

    return lifespan


def _serves_index(components: Components, settings: Settings) -> bool:
    """Whether components given to the app are those of the index in `settings.index` (then
    reports can be added and removed), not another index of a test or a tool."""
    try:
        return read_manifest(settings.index) == components.index.manifest
    except IndexError_:
        return False
