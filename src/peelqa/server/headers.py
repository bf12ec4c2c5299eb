"""Security headers: every response says `X-Content-Type-Options: nosniff`; the pages (the chat
page and /docs) also get a Content-Security-Policy and may not be framed.

The policy admits scripts, styles and connections from this server only: the page's script is
`/widget.js`, /docs's are the package's copy of Swagger UI, and neither has inline code. The
widget on other sites is a script tag on *their* page, so this policy (of peelqa's own pages)
does not reach it, and `frame-ancestors 'none'` does not either: nothing of peelqa is framed.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        # Swagger UI's and the page's icons are data: URIs in their CSS.
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

_EVERY: list[tuple[bytes, bytes]] = [(b"x-content-type-options", b"nosniff")]
_PAGES: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", PAGE_POLICY.encode()),
    # For browsers that predate frame-ancestors.
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                page = any(
                    name == b"content-type" and value.startswith(b"text/html")
                    for name, value in headers
                )
                # A response with a policy of its own keeps it: a report's web page as it was
                # added is sent sandboxed, which no page policy may loosen.
                own = {name for name, _ in headers}
                added = [(n, v) for n, v in _EVERY + (_PAGES if page else []) if n not in own]
                message = {**message, "headers": headers + added}
            await send(message)

        await self.app(scope, receive, with_headers)
