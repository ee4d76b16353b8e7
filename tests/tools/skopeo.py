"""skopeo with sigstore support, for the signing interop tests: Debian 13's build, run in place.

Why not Debian 12's `skopeo` (1.9.3): Debian builds it with sigstore compiled out, so a
`sigstoreSigned` policy and `--sign-by-sigstore-private-key` both end in "Debian-local change:
sigstore disabled" (measured). Debian 13 (trixie) builds skopeo 1.18.0 with sigstore, but its
binary needs trixie's glibc (2.38 or later). So the pinned trixie .debs below are downloaded
(each checked against its SHA-256 from trixie's main/binary-amd64/Packages.xz), unpacked with
`dpkg-deb -x` into the user's cache (never installed system-wide) and the binary is run through
trixie's own dynamic loader with trixie's libraries:

    CACHE/tools/skopeo-1.18.0+ds1-1+b5/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 \\
        --library-path CACHE/tools/skopeo-1.18.0+ds1-1+b5/usr/lib/x86_64-linux-gnu \\
        CACHE/tools/skopeo-1.18.0+ds1-1+b5/usr/bin/skopeo ARGS...

It reads no /etc/containers file when given `--policy` and `--registries.d` and
$CONTAINERS_REGISTRIES_CONF (see `isolated_environment`), which is how the tests run it.

By hand:  .venv/bin/python tests/tools/skopeo.py --version      (fetches once, then runs it)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from proxywasm_build.cache import cache_dir, locked
from proxywasm_build.errors import UserError

VERSION = "1.18.0+ds1-1+b5"
MIRROR = "http://deb.debian.org/debian/"
INDEX = "dists/trixie/main/binary-amd64/Packages.xz"
LIBRARY_DIR = "usr/lib/x86_64-linux-gnu"
LOADER = f"{LIBRARY_DIR}/ld-linux-x86-64.so.2"


@dataclass(frozen=True)
class Deb:
    path: str  # under MIRROR, the `Filename:` field of trixie's Packages index
    sha256: str

    @property
    def url(self) -> str:
        return MIRROR + self.path

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]


#: skopeo and the libraries it links (`Depends:` minus the config-only golang-github-containers-common),
#: plus trixie's libc for its loader. A trixie point release may replace a file in pool/.
DEBS = (
    Deb("pool/main/s/skopeo/skopeo_1.18.0+ds1-1+b5_amd64.deb",
        "7ca44a3f31f3cddca9d9dc858029dd08c30faf6e93456753825509e6a59192e2"),
    Deb("pool/main/g/glibc/libc6_2.41-12+deb13u5_amd64.deb",
        "b59b0625cd1a791375d40dab23a4d5d3d0641e3d0a773501becdc3725b7f99cf"),
    Deb("pool/main/g/gpgme1.0/libgpgme11t64_1.24.2-3_amd64.deb",
        "6650203af59ccf73b22cd6904fb179a799cb70d62885b19ae725c0655c04241c"),
    Deb("pool/main/liba/libassuan/libassuan9_3.0.2-2_amd64.deb",
        "9d78ef8f016e7f24b5e20d1ce91939fe0f1f897e5f9059793201e930ded7eb8e"),
    Deb("pool/main/libg/libgpg-error/libgpg-error0_1.51-4_amd64.deb",
        "22b95570fd41c113ef6f5651563b4d748292844baab1278a46eb940c1dec2322"),
    Deb("pool/main/s/sqlite3/libsqlite3-0_3.46.1-7+deb13u2_amd64.deb",
        "0a459adaffd901109f7811ab65f58e7a957b4907d05539cf3d1184efdcde0468"),
)


def skopeo_command() -> list[str]:
    """The command prefix that runs trixie's skopeo (fetched into the cache the first time)."""
    root = install()
    return [str(root / LOADER), "--library-path", str(root / LIBRARY_DIR), str(root / "usr/bin/skopeo")]


def install() -> Path:
    """Unpack the pinned .debs into CACHE/tools/skopeo-VERSION once; return that directory.

    The directory appears by a rename of a finished, checked extraction, so it is either
    complete or absent; a lock keeps two test runs from fetching at once.
    """
    tools = cache_dir() / "tools"
    root = tools / f"skopeo-{VERSION}"
    if root.is_dir():
        return root
    tools.mkdir(parents=True, exist_ok=True)
    with locked(f"skopeo-{VERSION}"):
        if root.is_dir():
            return root
        with tempfile.TemporaryDirectory(prefix=f".skopeo-{VERSION}.", dir=tools) as scratch:
            tree = Path(scratch) / "tree"
            for deb in DEBS:
                unpack(download(deb, Path(scratch)), tree)
            check_runs(tree)
            os.rename(tree, root)
    return root


def download(deb: Deb, directory: Path) -> Path:
    """Fetch one pinned .deb and refuse it unless its SHA-256 is the pinned one."""
    try:
        with urllib.request.urlopen(deb.url, timeout=120) as response:
            data = response.read()
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise UserError(
                f"{deb.url} is gone (HTTP 404): a Debian 13 point release replaced {deb.name} in pool/, so pin "
                f"its successor (Filename and SHA256 from {MIRROR}{INDEX}) in {__file__}.") from None
        raise UserError(f"could not download {deb.url}: HTTP {err.code} {err.reason}.") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(f"could not download {deb.url} (is deb.debian.org reachable?): {reason}.") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != deb.sha256:
        raise UserError(f"{deb.url} has SHA-256 {actual}, not the pinned {deb.sha256}: the file at that address "
                        f"changed (or was tampered with), so it is refused; check {MIRROR}{INDEX}.")
    path = directory / deb.name
    path.write_bytes(data)
    return path


def unpack(deb: Path, tree: Path) -> None:
    dpkg_deb = shutil.which("dpkg-deb")
    if dpkg_deb is None:
        raise UserError("dpkg-deb is not installed; it unpacks the pinned skopeo .debs (Debian: apt-get install dpkg).")
    proc = subprocess.run([dpkg_deb, "-x", str(deb), str(tree)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"dpkg-deb could not unpack {deb.name}: {proc.stderr.strip() or 'no output'}.")


def check_runs(tree: Path) -> None:
    """Run the unpacked skopeo once before the cache entry is published."""
    command = [str(tree / LOADER), "--library-path", str(tree / LIBRARY_DIR), str(tree / "usr/bin/skopeo"),
               "--version"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or "1.18.0" not in proc.stdout:
        detail = (proc.stderr.strip().splitlines() or [proc.stdout.strip() or "no output"])[-1]
        raise UserError(f"the unpacked trixie skopeo does not run here: {detail}.")


def isolated_environment(directory: Path) -> dict[str, str]:
    """Environment variables that keep skopeo away from /etc/containers and the user's files.

    `--policy` and `--registries.d` are passed on the command line; this adds an empty
    registries.conf (short names are never used) and an auth file of its own.
    """
    registries_conf = directory / "registries.conf"
    if not registries_conf.exists():
        registries_conf.write_text("")
    return {**os.environ, "CONTAINERS_REGISTRIES_CONF": str(registries_conf),
            "REGISTRY_AUTH_FILE": str(directory / "auth.json")}


def main(argv: list[str]) -> int:
    try:
        command = skopeo_command()
    except UserError as err:
        print(f"skopeo: {err}", file=sys.stderr)
        return 1
    return subprocess.run([*command, *argv]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
