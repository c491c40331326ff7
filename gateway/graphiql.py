"""GraphiQL (debug only), served with its assets from the package rather than a CDN, so it
works on a machine without internet (../shared/CONSOLE.md).

The page is Strawberry's, with its unpkg URLs pointed at /graphiql/; the files under
gateway/static/graphiql/ are the ones it pins (tools/vendor_graphiql.py fetched them and
checked them against the page's integrity hashes, which the browser checks again).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from strawberry.http.ides import get_graphql_ide_html

ASSETS = Path(__file__).parent / "static" / "graphiql"
PREFIX = "/graphiql/"
_CDN = "https://unpkg.com/"
# <script src="https://unpkg.com/pkg@1.2.3/path" integrity="sha384-…"> (and <link href=…>)
_PINNED = re.compile(
    r'(?:src|href)="https://unpkg\.com/((?:@[^/"]+/)?[^/@"]+@[^/"]+)/([^"]+)"\s+integrity="([^"]+)"'
)


@dataclass(frozen=True)
class Asset:
    package: str  # name@version
    path: str
    integrity: str


def pinned_assets(html: str | None = None) -> list[Asset]:
    """The files Strawberry's GraphiQL page loads from unpkg, with their integrity hashes."""
    page = get_graphql_ide_html("graphiql") if html is None else html
    return [Asset(*match.groups()) for match in _PINNED.finditer(page)]


def page() -> str:
    """Strawberry's GraphiQL page, loading its assets from us."""
    return get_graphql_ide_html("graphiql").replace(_CDN, PREFIX)


def page_response() -> HTMLResponse:
    return HTMLResponse(page())


async def asset(request: Request) -> Response:
    """A vendored file. Their paths carry their versions, so they never change: cached for a
    year. Only files under the vendored folder are served."""
    relative = request.path_params["path"]
    path = (ASSETS / relative).resolve()
    if not path.is_relative_to(ASSETS.resolve()) or not path.is_file():
        return Response("Not found\n", status_code=404, media_type="text/plain")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=31536000, immutable"})
