"""Options `run` and `deploy envoy` share: what Envoy does when the VM fails, and its limits."""

from __future__ import annotations

from typing import Any, Callable

import click

from proxywasm_build.cli.build import ByteSize
from proxywasm_build.envoy.config import DEFAULT_FAILURE_POLICY, DEFAULT_RELOAD_BACKOFF, FAILURE_POLICIES

_OPTIONS = (
    click.option("--failure-policy", type=click.Choice(list(FAILURE_POLICIES)), default=DEFAULT_FAILURE_POLICY,
                 show_default=True,
                 help="When the VM fails (it trapped, e.g. out of memory): fail-reload starts a fresh VM "
                      "(503 meanwhile), fail-closed answers 503 until Envoy restarts, fail-open skips the filter."),
    click.option("--reload-backoff", type=click.FloatRange(0.002, 3600), default=DEFAULT_RELOAD_BACKOFF,
                 show_default=True, metavar="SECONDS",
                 help="fail-reload: the base interval between reloads (Envoy backs off up to ten times it)."),
    click.option("--buffer-limit", type=ByteSize(), default=None, metavar="BYTES",
                 help="per_connection_buffer_limit_bytes of the listener and clusters (Envoy: 1M); also the "
                      "largest body a filter can buffer whole."),
    click.option("--max-request-headers-kb", type=click.IntRange(1, 8192), default=None, metavar="KB",
                 help="The largest request header block Envoy reads (Envoy: 60)."),
    click.option("--max-headers", "max_headers_count", type=click.IntRange(1), default=None, metavar="N",
                 help="The most request headers Envoy reads (Envoy: 100)."),
)


def envoy_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared options to a click command (they arrive as keyword arguments)."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def render_arguments(failure_policy: str, reload_backoff: float, buffer_limit: int | None,
                     max_request_headers_kb: int | None, max_headers_count: int | None) -> dict[str, Any]:
    """The options as `render_bootstrap` keyword arguments."""
    return {"failure_policy": failure_policy, "reload_backoff": reload_backoff,
            "buffer_limit_bytes": buffer_limit, "max_request_headers_kb": max_request_headers_kb,
            "max_headers_count": max_headers_count}
