"""GraphiQL under GATEWAY_DEBUG works without internet: its page loads every file from the
gateway itself, and each file is the one the page pins (its integrity hash matches)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from gateway.graphiql import ASSETS, pinned_assets

pytestmark = pytest.mark.one_executor

# Every resource a page loads: scripts, stylesheets, icons.
RESOURCE = re.compile(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"[^>]*>', re.S)


def integrity_of(tag_source: str, url: str) -> str:
    tag = next(t for t in re.findall(r"<(?:script|link)\b[^>]*>", tag_source, re.S) if url in t)
    match = re.search(r'integrity="([^"]+)"', tag)
    assert match, f"{url} has no integrity hash"
    return match.group(1)


async def test_graphiql_loads_every_file_from_the_gateway_as_pinned(make_client) -> None:
    async with make_client(debug=True) as client:
        # when a browser opens /graphql under debug
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        html = page.text
        # then the page names no other host
        assert "unpkg.com" not in html
        urls = [u for u in RESOURCE.findall(html) if not u.startswith("data:")]
        assert urls and all(u.startswith("/graphiql/") for u in urls), urls
        # and each file is served by the gateway, cached for good, and is the pinned one
        for url in urls:
            response = await client.get(url)
            assert response.status_code == 200, url
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
            kind = "javascript" if url.endswith(".js") else "css"
            assert kind in response.headers["content-type"], url
            digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
            assert f"sha384-{digest}" == integrity_of(html, url), url


def test_every_file_the_page_pins_is_vendored_with_its_licence() -> None:
    # the installed Strawberry's page: after an upgrade that moves a version, this fails until
    # `make vendor-graphiql` fetched the new files
    assets = pinned_assets()
    assert {a.package.rsplit("@", 1)[0] for a in assets} >= {"react", "react-dom", "graphiql"}
    for asset in assets:
        path = ASSETS / asset.package / asset.path
        assert path.is_file(), f"{path} is missing: run `make vendor-graphiql`"
        digest = base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()
        assert f"sha384-{digest}" == asset.integrity, path
        assert (ASSETS / asset.package / "LICENSE").read_text().strip()


async def test_graphiql_files_are_served_only_in_debug_and_only_from_their_folder(
    make_client,
) -> None:
    asset = pinned_assets()[0]
    url = f"/graphiql/{asset.package}/{asset.path}"
    async with make_client(debug=False) as client:
        # without debug there is no GraphiQL, nor its files
        assert (await client.get(url)).status_code == 404
    async with make_client(debug=True) as client:
        # with debug, nothing outside the vendored folder is reachable through it
        for escape in ("/graphiql/../settings.py", "/graphiql/%2e%2e/settings.py", "/graphiql/"):
            assert (await client.get(escape)).status_code == 404, escape
