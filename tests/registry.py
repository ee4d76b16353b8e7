"""A real OCI registry for the tests: Debian's `docker-registry` (distribution v2).

Each `LocalRegistry` listens on 127.0.0.1 on a free port, keeps its blobs under a temporary
storage root and has its own config file, so several can run at once and none touches
/var/lib/docker-registry or port 5000. With `users` it requires htpasswd (bcrypt) basic auth.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from proxywasm_build.wasm.metadata_section import custom_section

REGISTRY_BINARY = "docker-registry"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_registry() -> str:
    binary = shutil.which(REGISTRY_BINARY)
    if binary is None:
        pytest.skip("docker-registry is not installed (Debian: apt-get install docker-registry)")
    return binary


def _htpasswd_line(user: str, password: str) -> str:
    htpasswd = shutil.which("htpasswd")
    if htpasswd is None:
        pytest.skip("htpasswd is not installed (Debian: apt-get install apache2-utils)")
    proc = subprocess.run([htpasswd, "-nbB", user, password], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


class LocalRegistry:
    """One `docker-registry serve` process; use as a context manager."""

    def __init__(self, root: Path, users: dict[str, str] | None = None) -> None:
        self.root = Path(root)
        self.storage = self.root / "storage"
        self.port = free_port()
        self.debug_port = free_port()
        self.users = users or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.root / "registry.log"

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, the registry part of an image reference."""
        return f"127.0.0.1:{self.port}"

    def _config(self) -> str:
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.storage}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "  debug:",
            f"    addr: 127.0.0.1:{self.debug_port}",
        ]
        if self.users:
            htpasswd = self.root / "htpasswd"
            htpasswd.write_text("".join(_htpasswd_line(u, p) + "\n" for u, p in self.users.items()))
            lines += ["auth:", "  htpasswd:", "    realm: proxywasm-test", f"    path: {htpasswd}"]
        return "\n".join(lines) + "\n"

    def start(self) -> "LocalRegistry":
        """Start and wait until `/v2/` answers; a port taken meanwhile gets fresh ports."""
        for attempt in range(3):
            try:
                return self._start_once()
            except RuntimeError:
                self.stop()
                if attempt == 2:
                    raise
                self.port, self.debug_port = free_port(), free_port()
        raise AssertionError("unreachable")

    def _start_once(self) -> "LocalRegistry":
        binary = require_registry()
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(self._config())
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log_path.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return self
            except urllib.error.HTTPError as err:  # 401 when auth is on: it is up
                if err.code == 401:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("docker-registry did not become ready in 15 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def blob_path(self, digest: str) -> Path:
        """Where the filesystem driver keeps a blob's bytes (to tamper with it in tests)."""
        algorithm, hexdigest = digest.split(":", 1)
        return (self.storage / "docker" / "registry" / "v2" / "blobs" / algorithm
                / hexdigest[:2] / hexdigest / "data")

    def __enter__(self) -> "LocalRegistry":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# A tiny hand-written Proxy-Wasm (ABI 0.2.1) module: every request gets a local reply
# "418 hello from wat". Small, fast to assemble, and Envoy runs it for real.
LOCAL_REPLY_WAT = r"""
(module
  (import "env" "proxy_send_local_response"
    (func $send_local_response (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "hello from wat\n")
  (data (i32.const 48) "wat_reply")
  (data (i32.const 64) "\00\00\00\00")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $size)) (i32.const 15))
                               (i32.const -16)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.add (i32.shr_u (local.get $size) (i32.const 16)) (i32.const 1))))))
    (local.get $ptr))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $send_local_response
      (i32.const 418) (i32.const 48) (i32.const 9) (i32.const 16) (i32.const 15)
      (i32.const 64) (i32.const 4) (i32.const -1)))
    (i32.const 1))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))
)
"""


def local_reply_module(path: Path) -> Path:
    """Assemble LOCAL_REPLY_WAT into `path` (a ~600-byte Proxy-Wasm module)."""
    import wasmtime

    path.write_bytes(wasmtime.wat2wasm(LOCAL_REPLY_WAT))
    return path


def module_variant(module: Path, label: str, directory: Path) -> Path:
    """A copy of `module` made unique by a trailing custom section, so its blobs are its own
    (registries share blobs by digest: tampering with a shared one would hit other tests)."""
    section = custom_section("proxywasm-test-variant", label.encode())
    out = directory / f"{module.stem}-{label}.wasm"
    out.write_bytes(module.read_bytes() + section)
    return out

