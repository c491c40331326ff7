"""The console as the gateway serves it (CONSOLE.md "Where it lives"): the page at every
history route under its policy, each file it loads from the gateway under a hashed name that
is cached for good, within the size budget, and every document it sends trusted, in
trusted-documents mode too."""

from __future__ import annotations

import gzip
import json
import logging
import re
from pathlib import Path

import httpx
import pytest
from graphql import NonNullTypeNode, OperationDefinitionNode, OperationType, parse

from gateway.console import ASSETS, CONTENT_SECURITY_POLICY, SOURCE
from gateway.demo import ACME_NAME, ADMIN_EMAIL
from gateway.persisted import document_hash
from tests.helpers import load_query, token_for

pytestmark = pytest.mark.one_executor

BUDGET = 250 * 1024
RESOURCE = re.compile(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"')
IMPORTED = re.compile(r'(?:\bfrom\s*|\bimport\s*)"(/console/assets/[^"]+)"')
# How the console names an operation it sends (its api module's functions).
SENT = re.compile(r'\b(?:query|mutate|subscribe)\(\s*"([A-Za-z]+)"')


async def loaded_files(client) -> dict[str, bytes]:
    """Every file the console's page loads, by URL: the page, what it names, and what the
    modules import, as served to a browser that accepts gzip (decompressed)."""
    page = await client.get("/console/", headers={"Accept-Encoding": "gzip"})
    files = {"/console/": page.content}
    todo = RESOURCE.findall(page.text)
    while todo:
        url = todo.pop()
        if url in files:
            continue
        response = await client.get(url)
        assert response.status_code == 200, url
        files[url] = response.content
        if url.endswith(".js"):
            todo.extend(IMPORTED.findall(response.text))
    return files


async def test_the_page_is_served_at_every_history_route_under_its_policy(client) -> None:
    for path in ("/console/", "/console/apps/QXBwOjE=", "/console/log", "/console/inbox"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
        assert '<meta name="viewport"' in response.text
    # a name with a suffix is a file: missing, it is 404, not the page
    for path in ("/console/app.js", "/console/assets/app.0123456789abcdef.js"):
        assert (await client.get(path)).status_code == 404, path
    # /console goes to /console/, without naming a host
    moved = await client.get("/console", follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (308, "/console/")


async def test_every_file_comes_from_the_gateway_hashed_cached_and_compressed(client) -> None:
    files = await loaded_files(client)
    urls = [url for url in files if url != "/console/"]
    # the page names its files on this origin only, each under a content hash
    assert any(url.endswith(".js") for url in urls) and any(url.endswith(".css") for url in urls)
    for url in urls:
        assert re.fullmatch(rf"{ASSETS}[\w/.-]+\.[0-9a-f]{{16}}\.(js|css|svg)", url), url
        plain = await client.get(url, headers={"Accept-Encoding": "identity"})
        zipped = await client.get(url, headers={"Accept-Encoding": "gzip"})
        assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "content-encoding" not in plain.headers
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.content == plain.content  # httpx decompressed it
        suffix = url.rsplit(".", 1)[1]
        kind = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}
        assert plain.headers["content-type"] == kind.get(suffix, "image/svg+xml"), url
    # nothing in them reaches for another host
    for url, body in files.items():
        text = body.decode()
        assert not re.search(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""", text), url


async def test_the_files_it_loads_fit_the_size_budget(client) -> None:
    files = await loaded_files(client)
    weight = sum(len(gzip.compress(body, compresslevel=9)) for body in files.values())
    print(f"console: {len(files)} files, {weight:,} bytes gzip -9 of {BUDGET:,}")
    assert weight <= BUDGET


def console_operations() -> set[str]:
    return {
        name
        for path in SOURCE.rglob("*.js")
        if "vendor" not in path.parts
        for name in SENT.findall(path.read_text())
    }


def test_every_operation_the_console_sends_is_one_of_its_documents(app) -> None:
    sent = console_operations()
    documents = {path.stem for path in (SOURCE / "documents").glob("*.graphql")}
    assert len(sent) >= 10, sent  # the six screens' queries, mutations and subscriptions
    assert sent - documents == set(), "operations with no document in console/documents"
    assert set(app.state.console.operation_ids) == documents


def document_of(name: str) -> OperationDefinitionNode:
    (operation,) = [
        d
        for d in parse((SOURCE / "documents" / f"{name}.graphql").read_text()).definitions
        if isinstance(d, OperationDefinitionNode)
    ]
    return operation


async def test_the_consoles_documents_run_by_id_in_trusted_documents_mode(
    gateway, demo, settings, tmp_path: Path
) -> None:
    # given a gateway that trusts only another client's manifest
    other = load_query("my-apps-page.graphql")
    manifest = tmp_path / "other.json"
    manifest.write_text(json.dumps({document_hash(other): other}))
    token = await token_for(settings, ADMIN_EMAIL, ACME_NAME)
    headers = {"Authorization": f"Bearer {token}"}
    async with gateway(trusted_documents=(str(manifest),)) as trusted:
        ids = trusted.state.console.operation_ids
        runnable = [
            name
            for name in ids
            if document_of(name).operation is OperationType.QUERY
            and not any(
                isinstance(v.type, NonNullTypeNode) and v.default_value is None
                for v in document_of(name).variable_definitions or ()
            )
        ]
        assert runnable
        transport = httpx.ASGITransport(app=trusted)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for name in runnable:
                # when the console sends one of its queries by id
                response = await client.post(
                    "/graphql",
                    json={"documentId": ids[name], "operationName": name},
                    headers=headers,
                )
                # then it runs
                body = response.json()
                assert response.status_code == 200, body
                assert "errors" not in body and body["data"], (name, body)
            # while a document outside both is refused
            refused = await client.post(
                "/graphql", json={"query": "{ viewer { user { id } } }"}, headers=headers
            )
            assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"


async def test_limits_tighter_than_the_console_needs_are_the_operators_to_set(
    make_client, caplog
) -> None:
    # when an operator sets document limits the console's pages do not fit in
    with caplog.at_level(logging.WARNING, logger="gateway.app"):
        async with make_client(max_depth=3) as client:
            # then the gateway still starts and serves, and says which console requests fail
            assert (await client.get("/console/")).status_code == 200
    warned = [r.getMessage() for r in caplog.records if r.name == "gateway.app"]
    assert any(
        m.startswith("the console's MyAppsPage will be refused under the document limits:")
        and "the limit is 3" in m
        for m in warned
    ), warned
