"""Who may call the API and how often: API keys, and the rate limits (server/ratelimit.py)
applied to each caller.

Keys. `PEELQA_API_KEYS` holds comma-separated keys, or the path of a file with one hashed key
a line (`sha256:<64 hex>`, then optionally a label; `#` starts a comment). `peelqa new-key`
prints a fresh key and its line. Keys are compared by their SHA-256 digests in constant time:
API keys are long random strings, so a fast hash loses nothing against guessing, unlike a
password, and a request does not pay for a slow one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from peelqa.server.errors import error_response
from peelqa.server.ratelimit import RateLimits

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


def parse_keys(value: str) -> list[Key]:
    """The keys of the setting; [] when it is empty (the API is open). Raises ValueError."""
    value = value.strip()
    if not value:
        return []
    path = Path(value).expanduser()
    if path.is_file():
        return _read_key_file(path)
    if "/" in value:
        # A mistyped path must not silently become a key that the operator thinks is a file.
        raise ValueError(f"PEELQA_API_KEYS names no file: {value}")
    keys = []
    for raw in value.split(","):
        key = raw.strip()
        if len(key) < MIN_KEY_CHARS or any(ch.isspace() for ch in key):
            raise ValueError(
                f"every key in PEELQA_API_KEYS needs at least {MIN_KEY_CHARS} characters and no "
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
    (OPTIONS) requests never carry keys and pass through. The client address is the one
    server/proxy.py has validated.

    A key is checked before the failure limit is consulted, so a neighbour's broken script
    behind the same address cannot lock a valid key out; a guesser past the limit gets 429s.
    """

    def __init__(self, app: ASGIApp, *, api_keys: str, limits: RateLimits) -> None:
        self.app = app
        keys = parse_keys(api_keys)
        self.keys = KeyRing(keys) if keys else None
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or not guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        label = None
        if self.keys is not None:
            presented = bearer(scope)
            label = self.keys.identify(presented) if presented else None
            if label is None:
                await self._unauthorized(scope, receive, send, address, presented)
                return
        scope.setdefault("state", {})[CALLER_STATE] = (
            f"key:{label}" if label is not None else f"ip:{address}"
        )
        if self.limits.caller is not None and (
            wait := await self.limits.admit(key=label, address=address)
        ):
            await _too_many(scope, receive, send, wait)
            return
        await self.app(scope, receive, send)

    async def _unauthorized(
        self, scope: Scope, receive: Receive, send: Send, address: str, presented: str | None
    ) -> None:
        if wait := await self.limits.failed_authentication(address):
            await _too_many(scope, receive, send, wait, "too many failed authentications")
            return
        message = (
            "invalid API key" if presented else "send the API key as `Authorization: Bearer KEY`"
        )
        reply = error_response(401, "unauthorized", message, **{"WWW-Authenticate": "Bearer"})
        await reply(scope, receive, send)


async def _too_many(
    scope: Scope, receive: Receive, send: Send, wait: int, what: str = "too many requests"
) -> None:
    seconds = str(wait)
    reply = error_response(
        429, "rate_limited", f"{what}; retry in {seconds} s", **{"Retry-After": seconds}
    )
    await reply(scope, receive, send)


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
