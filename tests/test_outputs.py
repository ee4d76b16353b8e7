"""Every command that writes what the user named refuses a bad location with one sentence, first.

`build -o`, `pull -o`, `deploy envoy|istio --out` (a file) and `init DIR`, `skeleton -o DIR`
(a project directory): an unwritable place, a missing directory or a path through a file is
one line on stderr and exit 1, checked before any work, with nothing created or half-written.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from proxywasm_build.cache import atomic_write
from proxywasm_build.errors import UserError
from proxywasm_build.outputs import check_output_file, write_output

from registry import LocalRegistry, free_port

EXAMPLE_FILTER = Path(__file__).parent.parent / "examples" / "allow_deny" / "filter.py"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxywasm_build", *args], capture_output=True,
                          text=True, timeout=120)


def assert_one_sentence(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.startswith("proxywasm: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    """Bad places to write, each with the words its sentence must hold ({name} is the file)."""
    (tmp_path / "plain-file").write_text("not a directory\n")
    return {
        # /proc takes no new files (ENOENT for root, EACCES otherwise); /sys refuses even root.
        "/proc/{name}": "{verb} /proc/{name}: ",
        "/sys/{name}": "{verb} /sys/{name}: ",
        f"{tmp_path}/missing/{{name}}": f"the directory {tmp_path}/missing does not exist",
        f"{tmp_path}/plain-file/{{name}}": f"{tmp_path}/plain-file is not a directory",
    }


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROXYWASM_AUTH_FILE", str(tmp_path / "auth.json"))
    monkeypatch.setenv("PROXYWASM_CACHE", str(tmp_path / "cache"))


def contents(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if "cache" not in p.parts)


# An unreachable registry: a command that fetched before checking its output would fail with
# "cannot reach the registry" instead of naming the output.
UNREACHABLE = f"127.0.0.1:{free_port()}/nobody/home:v1"


@pytest.mark.parametrize("command", [
    ("build", str(EXAMPLE_FILTER), "-o"),
    ("pull", UNREACHABLE, "--plain-http", "-o"),
    ("deploy", "envoy", "{module}", "--out"),
    ("deploy", "istio", UNREACHABLE, "--name", "x", "--plain-http", "--out"),
], ids=["build", "pull", "deploy-envoy", "deploy-istio"])
def test_a_bad_output_file_is_one_sentence_before_any_work(command, places, tmp_path, module_path):
    before = contents(tmp_path)
    for place, words in places.items():
        target = place.format(name="out.file")
        args = [a.format(module=module_path) for a in command]
        proc = cli(*args, target)
        assert_one_sentence(proc, words.format(verb="cannot write", name="out.file"))
        assert contents(tmp_path) == before, "a directory or a partial file was left behind"
    assert not list(EXAMPLE_FILTER.parent.glob("*.wasm"))


@pytest.mark.parametrize("command", [
    ("init", "--lang", "python"),
    ("skeleton", str(EXAMPLE_FILTER), "--lang", "rust", "-o"),
], ids=["init", "skeleton"])
def test_a_project_directory_in_a_bad_place_is_one_sentence(command, places, tmp_path):
    before = contents(tmp_path)
    for place, words in places.items():
        target = place.format(name="project")
        args = [*command[1:], target] if command[0] == "skeleton" else [target, *command[1:]]
        proc = cli(command[0], *args)
        assert_one_sentence(proc, words.format(verb="cannot create", name="project"))
        assert contents(tmp_path) == before, "a directory or a staging copy was left behind"


def test_init_still_creates_its_own_directory(tmp_path):
    proc = cli("init", str(tmp_path / "deny"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "deny" / "filter.py").is_file()


@pytest.mark.registry
def test_pull_into_a_missing_directory_writes_nothing(tmp_path, module_path, isolated):
    from proxywasm_build.ship import oci

    with LocalRegistry(tmp_path / "registry") as registry:
        ref = f"{registry.host}/outputs/reply:v1"
        oci.push(module_path, ref, plain_http=True)
        missing = tmp_path / "not-yet" / "reply.wasm"
        assert_one_sentence(cli("pull", ref, "--plain-http", "-o", str(missing)),
                            f"the directory {missing.parent} does not exist")
        assert not missing.parent.exists()
        missing.parent.mkdir()
        proc = cli("pull", ref, "--plain-http", "-o", str(missing))
        assert proc.returncode == 0, proc.stderr
        assert missing.read_bytes() == module_path.read_bytes()


def test_deploy_out_writes_the_file_whole_in_an_existing_directory(tmp_path, module_path):
    out = tmp_path / "envoy.yaml"
    proc = cli("deploy", "envoy", str(module_path), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "static_resources" in out.read_text()
    assert contents(tmp_path) == ["envoy.yaml"]


def test_write_errors_are_sentences_and_leave_no_temporary_file(tmp_path):
    with pytest.raises(UserError, match=r"^cannot write /sys/x\.bin: permission denied\.$"):
        atomic_write(Path("/sys/x.bin"), b"data")
    with pytest.raises(UserError, match="it is a directory"):
        check_output_file(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        write_output(tmp_path / "missing" / "x.bin", b"data")
    write_output(tmp_path / "x.bin", b"data")
    assert contents(tmp_path) == ["x.bin"] and (tmp_path / "x.bin").read_bytes() == b"data"
