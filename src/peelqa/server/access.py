"""Who may call the API and how often: API keys and rate limits.

Keys. `PEELQA_API_KEYS` holds comma-separated keys, or the path of a file with one hashed key
a line (`sha256:<64 hex>`, then optionally a label; `#` starts a comment). `peelqa new-key`
prints a fresh key and its line. Keys are compared by their SHA-256 digests in constant time:
API keys are long random strings, so a fast hash loses nothing against guessing, unlike a
password, and a request does not pay for a slow one.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from peelqa.server.errors import ApiError, error_response

# 16 characters: shorter keys can be guessed; `peelqa new-key` makes 43 (256 bits).
MIN_KEY_CHARS = 16
KEY_FILE_PREFIX = "sha256:"
# Where the access log and the metrics find who called (see ops.py).
CALLER_STATE = "peelqa_caller"


@dataclass(frozen=True)
class Key:
    digest: bytes
    label: str


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def new_key(label: str = "") -> tuple[str, str]:
    """A fresh key and its line for the keys file."""
    key = secrets.token_urlsafe(32)
    return key, f"{KEY_FILE_PREFIX}{digest(key).hex()}{' ' + label if label else ''}"


def parse_keys(value: str, *, setting: str = "PEELQA_API_KEYS") -> list[Key]:
    """The keys of the setting; [] when it is empty (the API is open). Raises ValueError."""
    value = value.strip()
    if not value:
        return []
    path = Path(value).expanduser()
    if path.is_file():
        return _read_key_file(path)
    if "/" in value:
        # A mistyped path must not silently become a key that the operator thinks is a file.
        raise ValueError(f"{setting} names no file: {value}")
    keys = []
    for raw in value.split(","):
        key = raw.strip()
        if len(key) < MIN_KEY_CHARS or any(ch.isspace() for ch in key):
            raise ValueError(
                f"every key in {setting} needs at least {MIN_KEY_CHARS} characters and no "
                "spaces (`peelqa new-key` makes one)"
            )
        d = digest(key)
        keys.append(Key(digest=d, label=d.hex()[:8]))  # a label that does not reveal the key
    return keys


def _read_key_file(path: Path) -> list[Key]:
    keys = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        hexdigest = fields[0].removeprefix(KEY_FILE_PREFIX)
        if not fields[0].startswith(KEY_FILE_PREFIX) or len(hexdigest) != 64:
            raise ValueError(f"{path}:{n}: expected `sha256:<64 hex digits> [label]`")
        try:
            d = bytes.fromhex(hexdigest)
        except ValueError:
            raise ValueError(f"{path}:{n}: the digest is not hexadecimal") from None
        keys.append(Key(digest=d, label=" ".join(fields[1:]) or hexdigest[:8]))
    if not keys:
        raise ValueError(f"{path} holds no keys: the API would refuse everyone")
    return keys


class KeyRing:
    def __init__(self, keys: list[Key]) -> None:
        self.keys = keys

    def identify(self, presented: str) -> str | None:
        """The label of the presented key, or None. Looks at every key, whatever matches."""
        d = digest(presented)
        found = None
        for key in self.keys:
            if hmac.compare_digest(d, key.digest):
                found = key.label
        return found


ADMIN_SETTING = "PEELQA_ADMIN_KEYS"


def admin_ring(value: str) -> KeyRing | None:
    """The admin keys (`PEELQA_ADMIN_KEYS`, written as `PEELQA_API_KEYS` is); None when unset."""
    keys = parse_keys(value, setting=ADMIN_SETTING)
    return KeyRing(keys) if keys else None


def require_admin(request: Request) -> str:
    """The label of the admin key the request carries; else 401 (no key sent) or 403 (no
    admin keys configured, or a key that is not one of them)."""
    ring: KeyRing | None = getattr(request.app.state, "admin_keys", None)
    if ring is None:
        raise ApiError(
            403,
            "admin_disabled",
            f"adding and removing reports needs an admin key, and none is configured: set "
            f"{ADMIN_SETTING}",
        )
    presented = bearer(request.scope)
    if presented is None:
        raise ApiError(401, "unauthorized", "send an admin key as `Authorization: Bearer KEY`")
    label = ring.identify(presented)
    if label is None:
        raise ApiError(403, "forbidden", f"this key is not an admin key ({ADMIN_SETTING})")
    return label


class RateLimiter:
    """A token bucket per caller: bursts of up to `per_minute` requests, refilled evenly.

    In memory, per process: enough for one server; a fleet would need a shared store.
    """

    # Callers remembered at most; past this, idle callers (full buckets) are forgotten first.
    MAX_CALLERS = 10_000

    def __init__(self, *, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.per_second = per_minute / 60
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, when)

    def take(self, caller: str) -> float:
        """0 when the caller may go ahead (one token spent), else seconds until it may."""
        now = self.clock()
        tokens, then = self._buckets.get(caller, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.per_second)
        if tokens >= 1:
            self._buckets[caller] = (tokens - 1, now)
            wait = 0.0
        else:
            self._buckets[caller] = (tokens, now)
            wait = (1 - tokens) / self.per_second
        if len(self._buckets) > self.MAX_CALLERS:
            self._forget(now)
        return wait

    def _forget(self, now: float) -> None:
        idle = [
            c
            for c, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self.per_second >= self.capacity
        ]
        for c in idle:
            del self._buckets[c]
        # Still full of busy callers (many addresses at once): forget the oldest half. They
        # start again with a full bucket, which errs towards serving.
        if len(self._buckets) > self.MAX_CALLERS:
            for c in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[c]


def guarded(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


class AccessGuard:
    """Keys and rate limits for every /v1 endpoint; /healthz, /metrics and the page stay open.

    Sits inside the CORS middleware so that browsers can read a 401 or 429; preflight
    (OPTIONS) requests never carry keys and pass through.
    """

    def __init__(
        self, app: ASGIApp, *, api_keys: str, rate_limit: int, admin_keys: str = ""
    ) -> None:
        self.app = app
        keys = parse_keys(api_keys)
        # With keys on, an admin key opens every endpoint an ask key does.
        admin = parse_keys(admin_keys, setting=ADMIN_SETTING) if keys else []
        self.keys = KeyRing(keys + admin) if keys else None
        self.limiter = RateLimiter(per_minute=rate_limit) if rate_limit > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or not guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.keys is not None:
            presented = bearer(scope)
            label = self.keys.identify(presented) if presented else None
            if label is None:
                message = (
                    "invalid API key"
                    if presented
                    else "send the API key as `Authorization: Bearer KEY`"
                )
                reply = error_response(
                    401, "unauthorized", message, **{"WWW-Authenticate": "Bearer"}
                )
                await reply(scope, receive, send)
                return
            caller = f"key:{label}"
        else:
            client = scope.get("client")
            caller = f"ip:{client[0] if client else 'unknown'}"
        scope.setdefault("state", {})[CALLER_STATE] = caller
        if self.limiter is not None and (wait := self.limiter.take(caller)) > 0:
            seconds = str(math.ceil(wait))
            reply = error_response(
                429,
                "rate_limited",
                f"too many requests; retry in {seconds} s",
                **{"Retry-After": seconds},
            )
            await reply(scope, receive, send)
            return
        await self.app(scope, receive, send)


_GUARD_RESPONSES = {
    "401": "Missing or invalid API key (`Authorization: Bearer KEY`)",
    "429": "Rate limit reached; the `Retry-After` header says when to retry",
    "504": "No answer within the request deadline; retry later",
}


def document_guards(app: FastAPI, *, keys_on: bool, rate_limit_on: bool) -> None:
    """Make the OpenAPI schema (and /docs) tell the truth about keys, limits and the deadline."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        statuses = ["504"] + (["401"] if keys_on else []) + (["429"] if rate_limit_on else [])
        for path, operations in schema.get("paths", {}).items():
            if not guarded(path):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status in statuses:
                    responses.setdefault(
                        status,
                        {
                            "description": _GUARD_RESPONSES[status],
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ErrorBody"}
                                }
                            },
                        },
                    )
                if keys_on:
                    operation["security"] = [{"bearer": []}]
        if keys_on:
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["bearer"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key from PEELQA_API_KEYS.",
            }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override hook
