"""`proxywasm run`: a filter in a real local Envoy on 127.0.0.1, until Ctrl-C."""

from __future__ import annotations

import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from proxywasm_build.cli.envoy_options import envoy_options, render_arguments
from proxywasm_build.envoy.config import DEFAULT_FAILURE_POLICY, DEFAULT_RELOAD_BACKOFF
from proxywasm_build.errors import UserError


def resolve_module(target: str, workdir: Path, runtime: str | None = None, *, plain_http: bool = False,
                   verify_keys: tuple[str, ...] = ()) -> Path:
    """The .wasm to run for `target`: a module, a .py filter or project directory (built with
    `runtime`, default auto), or an OCI reference (pulled into the cache; with `verify_keys`
    only when one of them signed it)."""
    path = Path(target)
    if path.exists() and verify_keys:
        raise UserError("--verify-key checks images in a registry; it does not apply to the local file "
                        f"{target}.")
    if path.exists():
        if path.is_dir():
            from proxywasm_build.languages import build_project, detect_project_language

            language = detect_project_language(path)
            if language in ("assemblyscript", "rust", "go"):
                click.echo(f"building the {language} project {path} ...", err=True)
                return build_project(path, workdir / "filter.wasm")
        if path.suffix == ".py" or path.is_dir():
            click.echo(f"building {path} ...", err=True)
        from proxywasm_build.hosts import built_module

        return built_module(path, runtime=runtime)
    if target.endswith((".wasm", ".py")) or "/" not in target and ":" not in target:
        raise UserError(f"{target} does not exist.")
    from proxywasm_build.ship.oci import pull_to_cache

    click.echo(f"pulling {target} ...", err=True)
    return pull_to_cache(target, plain_http=plain_http, verify_keys=verify_keys)


def _follow(envoy, watcher) -> None:
    """Print the module's logs until Envoy stops; with a watcher, swap each saved change in."""
    shown = 0

    def show_logs() -> None:
        nonlocal shown
        logs = envoy.wasm_logs(worker_only=True)
        for level, message in logs[shown:]:
            click.echo(f"[{level}] {message}")
        shown = len(logs)
        if not envoy.running:
            raise UserError(f"Envoy stopped unexpectedly: {envoy.failure_reason() or 'see its log'}.")

    if watcher is None:
        while True:
            show_logs()
            time.sleep(0.2)
    import watchfiles

    watching = False
    for changes in watchfiles.watch(*watcher.watch_paths(), watch_filter=watcher.watch_filter(), debounce=400,
                                    rust_timeout=200, yield_on_timeout=True):
        show_logs()
        if not watching:
            # The watch is in place only now: a save made while Envoy started is caught up here.
            watching = True
            report = watcher.swap()
            if not report.unchanged:
                _show_swap(report)
            current = watcher.directory.current()
            click.echo(f"serving {current.short if current else '?'}; watching "
                       f"{', '.join(map(str, watcher.watch_paths()))} (Envoy PID {envoy.pid})")
        elif changes:
            click.echo(f"change in {', '.join(sorted({Path(p).name for _, p in changes}))}: rebuilding ...", err=True)
            _show_swap(watcher.swap())
            show_logs()


def _show_swap(report) -> None:
    click.echo(report.message if report.swapped else f"not swapped: {report.message}")


def check_port_free(port: int, option: str = "--port") -> None:
    """A UserError naming `port` and `option` when something on 127.0.0.1 holds the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as Envoy binds: a port left in TIME_WAIT by an earlier run is free to it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise UserError(f"port {port} on 127.0.0.1 is in use; pick another with {option}.") from None


@click.command("run")
@click.argument("target", metavar="FILTER.py|MODULE.wasm|DIR|REF")
@click.option("--config", "config", metavar="JSON|@FILE", help="Plugin configuration (text, or @file).")
@click.option("--vm-config", metavar="TEXT|@FILE", help="VM configuration (text, or @file).")
@click.option("--port", type=click.IntRange(0, 65535), default=10000, show_default=True,
              help="Listener port on 127.0.0.1 (0: a free port).")
@click.option("--admin-port", type=click.IntRange(0, 65535), default=0,
              help="Envoy admin port on 127.0.0.1 (default: a free port).")
@click.option("--upstream", metavar="URL", help="Forward requests to this http://HOST:PORT "
              "(default: a built-in direct response).")
@click.option("--root-id", default="", help="The root_id Envoy gives the plugin.")
@click.option("--cluster", "clusters", multiple=True, metavar="NAME=HOST:PORT",
              help="An extra cluster for the filter's HTTP callouts (repeatable).")
@click.option("--tcp", is_flag=True, help="Run as a network (TCP) filter instead of an HTTP filter.")
@click.option("--log-level", type=click.Choice(["trace", "debug", "info", "warn", "error"]),
              default="debug", show_default=True, help="Lowest level of the module's logs shown.")
@click.option("--plain-http", is_flag=True, help="Pull REF from a registry over plain HTTP.")
@click.option("--verify-key", "verify_keys", multiple=True, type=click.Path(dir_okay=False), metavar="NAME.pub",
              help="Run REF only if one of these public keys signed it (repeatable).")
@click.option("--runtime", type=click.Choice(["auto", "micropython", "cpython"]), default=None,
              help="The Python a .py filter is built with (default: auto, as build).")
@click.option("--watch", is_flag=True,
              help="Rebuild when the sources change and swap the new module into the running Envoy "
                   "(through ECDS: no restart, requests in flight finish on the old filter).")
@envoy_options
def command(target: str, config: str | None, vm_config: str | None, port: int, admin_port: int,
            upstream: str | None, root_id: str, clusters: tuple[str, ...], tcp: bool, log_level: str,
            plain_http: bool, verify_keys: tuple[str, ...], runtime: str | None, watch: bool,
            **envoy_settings: Any) -> None:
    """Run a filter or module in a real local Envoy on 127.0.0.1 until Ctrl-C.

    TARGET is a .wasm module, a .py filter or project directory (built first), or an OCI
    reference (pulled first). With --watch, each save rebuilds, validates and swaps the filter
    into the same Envoy; a save that fails keeps the last good filter serving.
    """
    from proxywasm_build.envoy.runner import LocalEnvoy
    from proxywasm_build.ship.deploy import parse_upstream, read_config_option

    extra_clusters = {}
    for spec in clusters:
        name, _, address = spec.partition("=")
        if not name or not address:
            raise UserError(f"--cluster {spec!r} must look like NAME=HOST:PORT.")
        extra_clusters[name] = parse_upstream(address, option="--cluster")
    upstream_address = parse_upstream(upstream) if upstream else None
    plugin_config, vm_configuration = read_config_option(config), read_config_option(vm_config)
    if port and port == admin_port:
        raise UserError(f"--port and --admin-port are both {port}; Envoy needs two different ports.")
    for number, option in ((port, "--port"), (admin_port, "--admin-port")):
        if number:
            check_port_free(number, option)

    if watch and tcp:
        raise UserError("--watch swaps an HTTP filter through ECDS; it cannot watch a --tcp filter.")
    if watch and not Path(target).exists():
        raise UserError(f"--watch needs a local filter, project or module; {target} does not exist here.")
    if watch and verify_keys:
        raise UserError("--verify-key checks images in a registry; --watch runs local sources.")
    if watch and (envoy_settings.get("failure_policy"), envoy_settings.get("reload_backoff")) != \
            (DEFAULT_FAILURE_POLICY, DEFAULT_RELOAD_BACKOFF):
        raise UserError("with --watch the filter's configuration is an ECDS resource, which does not carry "
                        "--failure-policy or --reload-backoff yet; leave them at their defaults.")

    with tempfile.TemporaryDirectory(prefix="proxywasm-run-") as tmp:
        watcher = None
        if watch:
            from proxywasm_build.envoy.watch import FilterWatcher

            watcher = FilterWatcher(Path(target), Path(tmp), runtime=runtime, plugin_config=plugin_config,
                                    vm_config=vm_configuration, root_id=root_id)
            click.echo(f"building {target} ...", err=True)
            code = {"ecds_resource": watcher.start()}
            module = watcher.directory.current().module
        else:
            module = resolve_module(target, Path(tmp), runtime, plain_http=plain_http, verify_keys=verify_keys)
            code = {"module": module}
        click.echo("starting Envoy ...", err=True)
        envoy = LocalEnvoy(
            **code, listener_port=port or None, admin_port=admin_port or None,
            plugin_config=plugin_config, vm_config=vm_configuration, root_id=root_id,
            upstream=upstream_address, clusters=extra_clusters, tcp=tcp,
            wasm_log_level="warning" if log_level == "warn" else log_level,
            start=False, **render_arguments(**envoy_settings),
        )
        stopping = []

        def on_sigterm(signum, frame):  # treat `kill` like Ctrl-C
            stopping.append(signum)
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_sigterm)
        # Python leaves SIGINT ignored when it starts ignored (a background job of a script, nohup):
        # Ctrl-C / `kill -INT` must still stop Envoy.
        previous_at_start = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            envoy.start()
            if watcher is not None:
                watcher.attach(envoy)
            behind = f"http://{upstream_address[0]}:{upstream_address[1]}" if upstream_address \
                else "a built-in direct response"
            click.echo(f"Envoy {'TCP' if tcp else 'HTTP'} listener: {envoy.url}  (admin {envoy.admin_url}, "
                       f"ready in {envoy.time_to_ready:.2f} s)")
            click.echo(f"module: {module}  in front of {behind}")
            if tcp:
                click.echo(f"try:  echo hello | nc 127.0.0.1 {envoy.port}")
            else:
                click.echo(f"try:  curl -i {envoy.url}/")
            click.echo("module logs follow; Ctrl-C stops.", err=True)
            _follow(envoy, watcher)
        except KeyboardInterrupt:
            pass
        finally:
            # A second Ctrl-C while stopping must not leave Envoy behind.
            previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            try:
                click.echo("stopping Envoy ...", err=True)
                envoy.stop()
            finally:
                signal.signal(signal.SIGINT, previous_at_start if previous_int is signal.default_int_handler
                              else previous_int)
                signal.signal(signal.SIGTERM, previous)
        click.echo("stopped.", err=True)
