"""How the console's files become what the gateway serves (gateway/console.py), on a small
console of the tests' own: content-hashed names that cover what a module imports, the index
naming them, documents checked and numbered, and every mistake stopping the start with a
message that names the file."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from pathlib import Path

import pytest

from gateway.console import ASSETS, SOURCE, VENDORED, Console
from gateway.persisted import document_hash
from gateway.settings import SettingsError

pytestmark = pytest.mark.one_executor

INDEX = (
    '<!doctype html><link rel="stylesheet" href="./styles.css">'
    '<script type="module" src="./app.js"></script>'
)
QUERY = "query Viewer { viewer { id } }"


def accept_all(_text: str) -> str | None:
    return None


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def small_console(root: Path, **changes: str) -> Path:
    files = {
        "index.html": INDEX,
        "styles.css": "body { margin: 0 }",
        "app.js": 'import { b } from "./lib/b.js";\nimport ids from "./documents.js";\nb(ids);\n',
        "lib/b.js": 'import "../lib/c.js";\nexport function b(x) { return x; }\n',
        "lib/c.js": "export const c = 1;\n",
        "documents/Viewer.graphql": QUERY,
    }
    return write(root, {**files, **changes})


def served(console: Console, url: str) -> str:
    assert url.startswith(ASSETS), url
    return console.assets[url.removeprefix(ASSETS)].body.decode()


def test_every_file_is_served_under_a_name_that_hashes_its_content(tmp_path: Path) -> None:
    console = Console.load(accept_all, small_console(tmp_path))
    # the index names the hashed files, and nothing else
    html = console.index.body.decode()
    assert f'href="{console.urls["styles.css"]}"' in html
    assert f'src="{console.urls["app.js"]}"' in html
    for name, url in console.urls.items():
        stem, suffix = name.rsplit(".", 1)
        assert re.fullmatch(rf"{ASSETS}{re.escape(stem)}\.[0-9a-f]{{16}}\.{suffix}", url), url
    # a module imports the hashed names of its imports, relative paths resolved
    app = served(console, console.urls["app.js"])
    assert f'from "{console.urls["lib/b.js"]}"' in app
    assert f'from "{console.urls["documents.js"]}"' in app
    assert f'import "{console.urls["lib/c.js"]}"' in served(console, console.urls["lib/b.js"])
    # and each is compressed as served
    for asset in console.assets.values():
        assert gzip.decompress(asset.gzipped) == asset.body


def test_a_change_deep_in_the_imports_renames_every_module_above_it(tmp_path: Path) -> None:
    before = Console.load(accept_all, small_console(tmp_path / "a"))
    after = Console.load(
        accept_all, small_console(tmp_path / "b", **{"lib/c.js": "export const c = 2;\n"})
    )
    for name in ("lib/c.js", "lib/b.js", "app.js"):
        assert before.urls[name] != after.urls[name], name
    assert before.urls["styles.css"] == after.urls["styles.css"]
    assert before.index.body != after.index.body


def test_documents_become_ids_the_console_imports(tmp_path: Path) -> None:
    console = Console.load(accept_all, small_console(tmp_path))
    assert console.documents == {document_hash(QUERY): QUERY}
    assert console.operation_ids == {"Viewer": f"sha256:{document_hash(QUERY)}"}
    module = served(console, console.urls["documents.js"])
    assert f'"Viewer": "sha256:{document_hash(QUERY)}"' in module


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"lib/c.js": 'import "../app.js";\n'},
            "in a cycle: app.js -> lib/b.js -> lib/c.js -> app.js",
        ),
        ({"lib/c.js": 'import { x } from "./x.js";\n'}, "lib/c.js imports ./x.js: no such file"),
        ({"index.html": INDEX + '<script src="./gone.js"></script>'}, "refers to gone.js"),
        ({"documents/Viewer.graphql": "query Viewer { nope }"}, "Viewer.graphql: invalid document"),
        ({"documents/Other.graphql": QUERY}, "Other.graphql: must hold one operation, named Other"),
    ],
)
def test_a_broken_console_stops_the_start_naming_the_file(
    tmp_path: Path, changes: dict[str, str], message: str
) -> None:
    def check(text: str) -> str | None:
        return "Cannot query field 'nope'" if "nope" in text else None

    with pytest.raises(SettingsError, match=re.escape(message)):
        Console.load(check, small_console(tmp_path, **changes))


def test_vendored_files_are_the_packages_as_published_with_their_licences() -> None:
    for name, (package, integrity) in VENDORED.items():
        data = (SOURCE / name).read_bytes()
        digest = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
        assert digest == integrity, f"{name} is not {package}'s file"
        licence = SOURCE / name.replace(".min.js", ".LICENSE.md")
        assert "MIT" in licence.read_text()
