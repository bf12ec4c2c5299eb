"""Who the client is: the connection's peer, or what a trusted reverse proxy says it is.

`X-Forwarded-For` is a header any client can send, so it is believed only from the proxies
named in `PEELQA_TRUSTED_PROXIES` (none by default: the header is then ignored). uvicorn's own
proxy-header handling is turned off (it trusts 127.0.0.1 by default, and a local proxy that
passes the header on unchecked then lets every caller choose its own address); this middleware
replaces it.

The address that comes out is always an IP address in its canonical text, or `unknown`, and
never longer than an IPv6 address: the rate limits key on it and the access log writes it, so
a made-up or megabyte-long header value reaches neither.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

UNKNOWN = "unknown"
# Hops read from the right of X-Forwarded-For: more proxies than this in a row is no real
# deployment, and the walk stays bounded whatever the header holds.
MAX_HOPS = 16
# A peer that is not an IP address comes from the server itself (a test client's "testclient",
# a Unix socket): kept when it is a short plain token, else `unknown`.
_PEER_TOKEN = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Longest text of an IP address, IPv6 with a zone included; anything longer is not one.
_MAX_ADDRESS_CHARS = 64


def parse_networks(value: str) -> tuple[Network, ...]:
    """The networks of `PEELQA_TRUSTED_PROXIES`; a bare address is a network of one.
    Raises ValueError naming the entry that is neither."""
    networks = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"PEELQA_TRUSTED_PROXIES: {entry!r} is not an IP address or network "
                "(e.g. 127.0.0.1 or 10.0.0.0/8)"
            ) from None
    return tuple(networks)


@lru_cache(maxsize=4096)
def canonical(text: str) -> str | None:
    """The canonical text of an IP address (IPv4-mapped IPv6 as IPv4), or None."""
    if len(text) > _MAX_ADDRESS_CHARS:
        return None
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


@lru_cache(maxsize=4096)
def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in net for net in networks)


def forwarded_client(peer: str, header: str, networks: tuple[Network, ...]) -> str:
    """The client behind a chain of trusted proxies: X-Forwarded-For read from the right (the
    entry the nearest proxy added) past every trusted address, to the first untrusted one.
    An entry that is not an address ends the walk at the last proxy that was believed: what a
    trusted proxy passed on unchecked cannot be told apart from a forgery."""
    client = peer
    for raw in reversed(header.rsplit(",", MAX_HOPS)[-MAX_HOPS:]):
        hop = canonical(raw)
        if hop is None:
            break
        client = hop
        if not _trusted(hop, networks):
            break
    return client


class ClientAddress:
    """Outermost middleware: `scope["client"]` becomes the validated client address, which the
    rate limits, the access log and the metrics then read."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: str) -> None:
        self.app = app
        self.networks = parse_networks(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            peer_port = scope.get("client") or (UNKNOWN, 0)
            peer = canonical(str(peer_port[0]))
            if peer is None:
                token = str(peer_port[0])
                scope["client"] = (token if _PEER_TOKEN.fullmatch(token) else UNKNOWN, 0)
            else:
                client = peer
                if self.networks and _trusted(peer, self.networks):
                    client, scheme = self._forwarded(scope, peer)
                    if scheme is not None:
                        scope["scheme"] = scheme
                scope["client"] = (client, peer_port[1] if client == peer else 0)
        await self.app(scope, receive, send)

    def _forwarded(self, scope: Scope, peer: str) -> tuple[str, str | None]:
        forwarded: list[str] = []
        scheme = None
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").rsplit(",", 1)[-1].strip().lower()
                scheme = proto if proto in ("http", "https") else None
        client = forwarded_client(peer, ",".join(forwarded), self.networks) if forwarded else peer
        return client, scheme
