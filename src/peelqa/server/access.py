"""Who may call the API and how often: API keys, and the rate limits (server/ratelimit.py)
applied to each caller.

Keys. `PEELQA_API_KEYS` holds comma-separated keys, or the path of a file with one hashed key
a line (`sha256:<64 hex>`, then optionally a label; `#` starts a comment). `peelqa new-key`
prints a fresh key and its line. Keys are compared by their SHA-256 digests in constant time:
API keys are long random strings, so a fast hash loses nothing against guessing, unlike a
password, and a request does not pay for a slow one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from peelqa.server.errors import ApiError, error_doc, error_response
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


def parse_keys(value: str, *, setting: str = "PEELQA_API_KEYS") -> list[Key]:
    """The keys of the setting; [] when it is empty (the API is open). Raises ValueError."""
    value = value.strip()
    if not value:
        return []
    path = Path(value).expanduser()
    if path.is_file():
        return _read_key_file(path, setting)
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


def _read_key_file(path: Path, setting: str) -> list[Key]:
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
        raise ValueError(f"{path} ({setting}) holds no keys: it would refuse everyone")
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

    def __init__(
        self, app: ASGIApp, *, api_keys: str, limits: RateLimits, admin_keys: str = ""
    ) -> None:
        self.app = app
        keys = parse_keys(api_keys)
        # With keys on, an admin key opens /v1 too (the admin routes are under it).
        self.keys = KeyRing(keys + parse_admin_keys(admin_keys)) if keys else None
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


# -- admin keys: the routes that read what users sent, or change the reports ------------------

ADMIN_KEYS_SETTING = "PEELQA_ADMIN_KEYS"


def parse_admin_keys(value: str) -> list[Key]:
    """The admin keys, in the forms of `PEELQA_API_KEYS`. Raises ValueError."""
    return parse_keys(value, setting=ADMIN_KEYS_SETTING)


def basic_password(scope: Scope) -> str | None:
    """The password of `Authorization: Basic`, so that a browser's own login prompt can carry
    an admin key to an admin page (any user name)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "basic":
                return None
            try:
                decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            password = decoded.partition(":")[2]
            return password or None
    return None


class AdminCheck:
    """Whether a request may use an admin route: only with a key of PEELQA_ADMIN_KEYS. With
    none configured every admin route is off (403 naming the setting); an ask key is 403;
    no key or an unknown one is 401."""

    CHALLENGE = 'Bearer, Basic realm="peelqa admin", charset="UTF-8"'

    def __init__(self, *, admin_keys: str, api_keys: str) -> None:
        admin = parse_admin_keys(admin_keys)
        ask = parse_keys(api_keys)
        self.admin = KeyRing(admin) if admin else None
        self.ask = KeyRing(ask) if ask else None

    def label(self, presented: str | None) -> str:
        """The admin key's label; raises ApiError (401 or 403)."""
        if self.admin is None:
            raise ApiError(
                403, "forbidden", f"admin routes are off: set {ADMIN_KEYS_SETTING} to enable them"
            )
        if presented is None:
            raise ApiError(
                401,
                "unauthorized",
                "send an admin key as `Authorization: Bearer KEY`",
                headers={"WWW-Authenticate": self.CHALLENGE},
            )
        label = self.admin.identify(presented)
        if label is not None:
            return label
        if self.ask is not None and self.ask.identify(presented) is not None:
            raise ApiError(
                403,
                "forbidden",
                f"this key may ask but not use admin routes (they need {ADMIN_KEYS_SETTING})",
            )
        raise ApiError(
            401, "unauthorized", "invalid admin key", headers={"WWW-Authenticate": self.CHALLENGE}
        )


def require_admin(request: Request) -> str:
    """A route dependency: the admin key's label, or 401/403 (`AdminCheck`)."""
    check: AdminCheck = request.app.state.admin_check
    return check.label(bearer(request.scope) or basic_password(request.scope))


AdminKey = Annotated[str, Depends(require_admin)]

ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: error_doc("No admin key, or an unknown one (`Authorization: Bearer KEY`)"),
    403: error_doc("Admin routes are off (no PEELQA_ADMIN_KEYS), or the key is not an admin key"),
}


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
