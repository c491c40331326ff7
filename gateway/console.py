"""The console (../shared/CONSOLE.md): a single-page app served at /console/ from the files
under gateway/static/console/, plain ES modules with no build step, so neither `make run` nor
a change to the console needs Node.js.

What a build would do is done here, once, when the app is created:

- every file gets a content-hashed name under /console/assets/ and is served `immutable`,
  gzip-compressed for clients that accept it; `index.html` is rewritten to name them and
  served `no-cache`, with the Content-Security-Policy, for every /console/ path that is not a
  file (history routes);
- a module's relative imports are rewritten to the hashed names of what they import, so a
  module's name covers its dependencies too (an import map would do it without rewriting,
  but must be inline, which the policy forbids);
- the console's GraphQL documents (documents/<OperationName>.graphql) are checked against the
  schema and become persisted documents that the gateway always trusts, trusted-documents
  mode included; the console names them through a generated module, `documents.js`, whose
  default export maps each operation name to its `documentId`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from graphql import OperationDefinitionNode, parse
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.persisted import document_hash
from gateway.settings import SettingsError

SOURCE = Path(__file__).parent / "static" / "console"
PREFIX = "/console/"
ASSETS = PREFIX + "assets/"
CONTENT_SECURITY_POLICY = "default-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'"
DOCUMENTS_MODULE = "documents.js"
_DOCUMENTS_DIR = "documents"
_SERVED_SUFFIXES = {".js", ".css", ".svg", ".png", ".ico", ".woff2"}
_IMMUTABLE = "public, max-age=31536000, immutable"
# Others' files, as `npm pack <package>` fetched them, with their licences beside them; a test
# holds them to these hashes. graphql-ws's UMD build defines the global `graphqlWs`.
VENDORED = {
    "vendor/graphql-ws.min.js": (
        "graphql-ws@6.4.2",
        "sha384-mxvR4Mzbsb6QVx/9xI2gtQikQA6m8zMDBFnu3l//4/ROsWt7y2sUGWd+/tYQqDm7",
    ),
}

# `import … from "./x.js"`, `import "./x.js"`, `export … from "./x.js"`: the console's modules
# import each other by relative paths in double quotes (its README says so).
_IMPORT = re.compile(r'(\b(?:import|export)\b[^;"\']*?\bfrom\s*|\bimport\s*)"(\.\.?/[^"]+)"')
# index.html's `src="./…"` and `href="./…"`.
_REFERENCE = re.compile(r'\b(src|href)="\./([^"]+)"')


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str


class Console:
    """The console's files as served: hashed assets by name, the rewritten index, and the
    persisted documents it sends."""

    def __init__(
        self,
        index: Asset,
        assets: dict[str, Asset],
        urls: dict[str, str],
        documents: dict[str, str],
        operation_ids: dict[str, str],
    ) -> None:
        self.index = index
        self.assets = assets  # by hashed name
        self.urls = urls  # the source's relative path -> its URL
        self.documents = documents  # sha256 hex -> text
        self.operation_ids = operation_ids  # operation name -> "sha256:<hex>"

    @classmethod
    def load(cls, check: Callable[[str], str | None], source: Path = SOURCE) -> Console:
        """Read, check and hash the console's files. `check` validates a GraphQL document
        against the schema (a problem, or None); an invalid one stops the start."""
        documents, operation_ids = _documents(source / _DOCUMENTS_DIR, check)
        files = {
            path.relative_to(source).as_posix(): path.read_bytes()
            for path in sorted(source.rglob("*"))
            if path.is_file() and path.suffix in _SERVED_SUFFIXES
        }
        files[DOCUMENTS_MODULE] = _documents_module(operation_ids)
        urls: dict[str, str] = {}
        assets: dict[str, Asset] = {}
        for name in files:
            _hash_into(name, files, urls, assets, ())
        index_html = (source / "index.html").read_text(encoding="utf-8")
        index = _asset("index.html", _references(index_html, urls).encode())
        return cls(index, assets, urls, documents, operation_ids)

    def problems(self, check: Callable[[str], str | None]) -> dict[str, str]:
        """What `check` finds wrong with the console's documents, by operation name."""
        found = {}
        for name, document_id in self.operation_ids.items():
            problem = check(self.documents[document_id.removeprefix("sha256:")])
            if problem is not None:
                found[name] = problem
        return found

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PREFIX.rstrip("/"), _to_console, methods=["GET", "HEAD"]),
            Route(ASSETS + "{name:path}", self._asset, methods=["GET", "HEAD"]),
            Route(PREFIX + "{path:path}", self._page, methods=["GET", "HEAD"]),
        ]

    async def _asset(self, request: Request) -> Response:
        asset = self.assets.get(request.path_params["name"])
        if asset is None:
            return _not_found()
        return _send(request, asset, {"Cache-Control": _IMMUTABLE})

    async def _page(self, request: Request) -> Response:
        """index.html for every path that is not a file: the console routes by history URLs.
        A path that names a file (it has a suffix) and is not one is 404, so a missing script
        is not answered with HTML."""
        if "." in request.path_params["path"].rsplit("/", 1)[-1]:
            return _not_found()
        return _send(
            request,
            self.index,
            {
                "Cache-Control": "no-cache",
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                # The token arrives in the fragment, which browsers never send; no other
                # page needs to know where its visitors came from either.
                "Referrer-Policy": "no-referrer",
            },
        )


async def _to_console(_request: Request) -> Response:
    # A relative Location: an absolute one would be built from the client's Host header.
    return RedirectResponse(PREFIX, status_code=308)


def _not_found() -> Response:
    return Response("Not found\n", status_code=404, media_type="text/plain")


def _send(request: Request, asset: Asset, headers: dict[str, str]) -> Response:
    headers = {**headers, "Vary": "Accept-Encoding"}
    body = asset.body
    if _accepts_gzip(request.headers.get("accept-encoding", "")):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(b"", media_type=asset.media_type, headers=headers)
    return Response(body, media_type=asset.media_type, headers=headers)


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().removeprefix("q=").strip()
            return q == "" or _quality(q) > 0
    return False


def _quality(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _asset(name: str, body: bytes) -> Asset:
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type == "application/javascript":
        media_type += "; charset=utf-8"
    # mtime=0: the same files give the same bytes on every start.
    return Asset(body, gzip.compress(body, compresslevel=9, mtime=0), media_type)


def _hash_into(
    name: str,
    files: dict[str, bytes],
    urls: dict[str, str],
    assets: dict[str, Asset],
    importers: tuple[str, ...],
) -> str:
    """The URL of `name`, hashing what it imports first (a module's bytes name its imports'
    hashed URLs, so its own hash covers theirs)."""
    if name in urls:
        return urls[name]
    if name in importers:
        cycle = " -> ".join((*importers[importers.index(name) :], name))
        raise SettingsError(f"console modules import each other in a cycle: {cycle}")
    body = files[name]
    if name.endswith(".js") and not name.startswith("vendor/"):

        def rewrite(match: re.Match[str]) -> str:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), match[2]))
            if target not in files:
                raise SettingsError(f"console module {name} imports {match[2]}: no such file")
            return f'{match[1]}"{_hash_into(target, files, urls, assets, (*importers, name))}"'

        body = _IMPORT.sub(rewrite, body.decode("utf-8")).encode()
    stem, suffix = posixpath.splitext(name)
    hashed = f"{stem}.{hashlib.sha256(body).hexdigest()[:16]}{suffix}"
    assets[hashed] = _asset(name, body)
    urls[name] = ASSETS + hashed
    return urls[name]


def _references(html: str, urls: dict[str, str]) -> str:
    def rewrite(match: re.Match[str]) -> str:
        url = urls.get(posixpath.normpath(match[2]))
        if url is None:
            raise SettingsError(f"console index.html refers to {match[2]}: no such file")
        return f'{match[1]}="{url}"'

    return _REFERENCE.sub(rewrite, html)


def _documents(
    directory: Path, check: Callable[[str], str | None]
) -> tuple[dict[str, str], dict[str, str]]:
    """The console's documents by sha256, and their ids by operation name. Each file holds one
    operation named as the file is (fragments besides)."""
    documents: dict[str, str] = {}
    operation_ids: dict[str, str] = {}
    for path in sorted(directory.glob("*.graphql")):
        text = path.read_text(encoding="utf-8")
        where = f"console document {path.name}"
        problem = check(text)
        if problem is not None:
            raise SettingsError(f"{where}: invalid document: {problem}")
        names = [
            d.name.value if d.name else None
            for d in parse(text).definitions
            if isinstance(d, OperationDefinitionNode)
        ]
        if names != [path.stem]:
            raise SettingsError(f"{where}: must hold one operation, named {path.stem}")
        sha256_hex = document_hash(text)
        documents[sha256_hex] = text
        operation_ids[path.stem] = f"sha256:{sha256_hex}"
    return documents, operation_ids


def _documents_module(operation_ids: dict[str, str]) -> bytes:
    return (
        "// Generated by the gateway (gateway/console.py): each operation's documentId.\n"
        f"export default Object.freeze({json.dumps(operation_ids, indent=1, sort_keys=True)});\n"
    ).encode()
