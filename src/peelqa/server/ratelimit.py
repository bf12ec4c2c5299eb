"""Rate limits, counted by the `limits` library over a sliding minute: in this process's memory
by default, or in Redis (`PEELQA_REDIS_URL`) so that every worker and every replica behind a
load balancer counts against the same limits.

Three limits, each over a sliding minute (the sliding-window counter: two counters a caller,
the previous minute's weighted by how much of it is still in the window):

- `rate_limit` per (API key, client address): one caller, the unit that a person or a script
  is. A widget's key is public and shared by everyone who opens the page, so one abuser of it
  runs into this limit alone and leaves the key to the others.
- `key_rate_limit` per API key, over all addresses together: the ceiling of a shared key, so
  that many addresses at once still cannot take the whole server with it.
- `auth_failure_limit` failed authentications per address: past it, 429 instead of 401.

With keys off the first limit is per address. An IPv6 client is counted by its /64 network,
the block one subscriber is given; each address in it would otherwise be a fresh caller.

When Redis cannot be reached the limits fall back to this process's memory (logged, counted in
`peelqa_rate_limit_store_errors_total`) and Redis is tried again after a few seconds: an outage
of the shared store must not take the API down with it, nor leave it unlimited.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from functools import lru_cache

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from peelqa.metrics import Metrics

log = logging.getLogger("peelqa")

# Seconds without Redis after a failure before it is tried again: each try may cost a
# connection timeout, which a request should not pay over and over while Redis is down.
REDIS_RETRY_S = 5.0
# A hung Redis must not hold requests: past this a call fails and the limits fall back.
REDIS_TIMEOUT_S = 0.5
# The same key prefix on every replica, so that they count together.
KEY_PREFIX = "peelqa"


class SweptMemoryStorage(MemoryStorage):
    """The library's asyncio memory storage, its sweep of expired counters run at most once a
    second instead of after every count.

    The sweep walks every counter in memory. Run after each request (as the library schedules
    it), a server that had seen 10,000 callers in the last two minutes spent about 2 ms of its
    event loop on every request, a cost any address-cycling client could impose. Expired
    counters are also dropped when read, so a later sweep only frees memory later.
    """

    SWEEP_EVERY_S = 1.0
    _last_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:  # the library's private hook
        now = time.monotonic()
        if now - self._last_sweep >= self.SWEEP_EVERY_S:
            self._last_sweep = now
            await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


@lru_cache(maxsize=4096)
def address_key(address: str) -> str:
    """What a client address is counted as: itself, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # `unknown`, or a test client's name
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return address


def _storage_uri(url: str) -> str:
    """`redis://`, `rediss://` or `unix://` as the `limits` library names them."""
    if url.startswith("unix://"):
        return "async+redis+unix://" + url.removeprefix("unix://")
    return "async+" + url


class RateLimits:
    """The limits of one server process; every method answers 0 (go ahead) or the seconds to
    wait (the 429's Retry-After)."""

    def __init__(
        self,
        *,
        per_minute: int,
        key_per_minute: int,
        auth_failures_per_minute: int,
        redis_url: str = "",
        metrics: Metrics | None = None,
    ) -> None:
        self.caller = RateLimitItemPerMinute(per_minute) if per_minute > 0 else None
        # A ceiling only where keys are in use and the limits are on at all.
        on = per_minute > 0 and key_per_minute > 0
        self.key = RateLimitItemPerMinute(key_per_minute) if on else None
        self.failures = (
            RateLimitItemPerMinute(auth_failures_per_minute)
            if auth_failures_per_minute > 0
            else None
        )
        self.metrics = metrics
        self.local = SlidingWindowCounterRateLimiter(SweptMemoryStorage())
        self.redis_url = redis_url
        self.shared: SlidingWindowCounterRateLimiter | None = None
        self._storage: Storage | None = None
        if redis_url:
            self._storage = RedisStorage(
                _storage_uri(redis_url),
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=KEY_PREFIX,
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
            self.shared = SlidingWindowCounterRateLimiter(self._storage)
        self._redis_down_until = 0.0

    async def admit(self, *, key: str | None, address: str) -> int:
        """Count one request of `key` (None: keys are off) from `address`."""
        if self.caller is None:
            return 0
        who = address_key(address)
        wait = await self._hit(self.caller, "caller", key or "-", who)
        if wait or key is None or self.key is None:
            return wait
        return await self._hit(self.key, "key", key)

    async def failed_authentication(self, address: str) -> int:
        """Count one failed authentication from `address`; 0 while under the limit."""
        if self.failures is None:
            return 0
        return await self._hit(self.failures, "auth-failures", address_key(address))

    async def check(self) -> bool:
        """Whether the shared store answers (True when there is none)."""
        if self._storage is None:
            return True
        try:
            return bool(await self._storage.check())
        except Exception:  # any failure to reach it means the same here: not answering
            return False

    async def close(self) -> None:
        bridge = getattr(self._storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        closing = getattr(client, "aclose", None)
        if closing is not None:
            try:
                await closing()
            except Exception as e:  # shutting down: nothing left to do about it
                log.debug("closing the rate-limit store: %s", e)

    async def _hit(self, item: RateLimitItem, *identifiers: str) -> int:
        limiter = self._limiter()
        try:
            if await limiter.hit(item, *identifiers):
                return 0
            stats = await limiter.get_window_stats(item, *identifiers)
        except StorageError as e:
            self._redis_failed(e)
            limiter = self.local
            if await limiter.hit(item, *identifiers):
                return 0
            stats = await limiter.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def _limiter(self) -> SlidingWindowCounterRateLimiter:
        if self.shared is not None and time.monotonic() >= self._redis_down_until:
            return self.shared
        return self.local

    def _redis_failed(self, error: Exception) -> None:
        if self.metrics is not None:
            self.metrics.rate_limit_store_errors.inc()
        now = time.monotonic()
        if now >= self._redis_down_until:  # said once per outage window, not per request
            log.warning(
                "rate limits: Redis is not answering (%s); counting in this process for %g s",
                error,
                REDIS_RETRY_S,
            )
        self._redis_down_until = now + REDIS_RETRY_S
