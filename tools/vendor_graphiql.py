"""Vendor GraphiQL's assets into the package (`make vendor-graphiql`), so GraphiQL works on a
machine without internet (../shared/CONSOLE.md).

The files are the ones Strawberry's GraphiQL page loads from unpkg, at the versions and with
the Subresource Integrity hashes that page pins: each is fetched from the npm registry with
`npm pack`, checked against its hash, and written to gateway/static/graphiql/<package>@<version>/
with the package's licence. Run it again after upgrading Strawberry; tests/test_graphiql.py
fails until then.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.graphiql import ASSETS, pinned_assets  # noqa: E402


def main() -> int:
    assets = pinned_assets()
    if ASSETS.exists():
        shutil.rmtree(ASSETS)
    with tempfile.TemporaryDirectory() as work:
        packages: dict[str, Path] = {}
        for asset in assets:
            if asset.package not in packages:
                out = subprocess.run(
                    ["npm", "pack", "--json", asset.package, "--pack-destination", work],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                tgz = Path(work) / json.loads(out.stdout)[0]["filename"]
                target = Path(work) / tgz.stem
                with tarfile.open(tgz) as archive:
                    archive.extractall(target, filter="data")
                packages[asset.package] = target / "package"
                _licence(packages[asset.package], ASSETS / asset.package)
            data = (packages[asset.package] / asset.path).read_bytes()
            digest = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
            if digest != asset.integrity:
                print(f"{asset.package}/{asset.path}: {digest} is not {asset.integrity}")
                return 1
            destination = ASSETS / asset.package / asset.path
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data)
            print(f"{asset.package}/{asset.path}: {len(data):,} bytes, {digest}")
    return 0


def _licence(package: Path, destination: Path) -> None:
    """The package's LICENSE file, or (a package that ships none) its declared licence."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("LICENSE", "LICENSE.md", "LICENSE.txt"):
        if (package / name).exists():
            shutil.copy(package / name, destination / "LICENSE")
            return
    manifest = json.loads((package / "package.json").read_text())
    (destination / "LICENSE").write_text(
        f"{manifest['name']} {manifest['version']} is published under the "
        f"{manifest.get('license', 'UNKNOWN')} licence (package.json); the package ships no "
        "licence file.\n"
    )


if __name__ == "__main__":
    sys.exit(main())
