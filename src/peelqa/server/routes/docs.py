"""`GET /docs`: Swagger UI over the app's OpenAPI schema, from the package's own copy of
swagger-ui-dist (server/swagger/SOURCE.md), so that the page needs no CDN."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, Response

from peelqa.server.errors import ApiError

# Package data: present in a source checkout and in an installed wheel alike.
SWAGGER_DIR = Path(__file__).resolve().parents[1] / "swagger"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "init.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
# A day: the files change only with a peelqa release.
_ASSET_CACHE = "public, max-age=86400"

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>peelqa · API</title>
  <link rel="icon" type="image/png" href="{root}/docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="{root}/docs/assets/swagger-ui.css">
</head>
<body data-openapi="{root}/openapi.json">
  <div id="swagger-ui"></div>
  <script src="{root}/docs/assets/swagger-ui-bundle.js"></script>
  <script src="{root}/docs/assets/init.js"></script>
</body>
</html>
"""


@router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    root = escape(str(request.scope.get("root_path", "")).rstrip("/"), quote=True)
    return HTMLResponse(_PAGE.format(root=root))


@router.get("/docs/assets/{name}")
async def asset(name: Annotated[str, PathParam()]) -> Response:
    media_type = ASSETS.get(name)
    path = SWAGGER_DIR / name
    if media_type is None or not path.is_file():
        raise ApiError(404, "not_found", f"no asset {name!r}")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": _ASSET_CACHE})
