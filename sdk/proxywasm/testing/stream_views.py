"""What a test can read of an HTTP stream at any step: the actions its callbacks returned and
the headers and bodies as the filters have left them so far.

These are the test's view, not the filter's: a filter may no longer be allowed to read a map
(Envoy forgets it once it went on), but the test still sees what the filters made of it, as
the Go SDK's `GetCurrentRequestHeaders` and `GetCurrentHttpStreamAction` do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Union

from ..abi import Action
from .headers import Headers

if TYPE_CHECKING:
    from .emulator import CallbackAction, HttpResponse


def _headers(pairs: Optional[list[tuple[bytes, bytes]]]) -> Optional[Headers]:
    return None if pairs is None else Headers.from_bytes_pairs(pairs)


class StreamViews:
    """Read-only views shared by `HttpStream` (mixed in) and its single-context driver."""

    actions: list["CallbackAction"]
    filters: list[Any]
    request_headers: Optional[list[tuple[bytes, bytes]]]
    response_headers: Optional[list[tuple[bytes, bytes]]]
    request_trailers: Optional[list[tuple[bytes, bytes]]]
    response_trailers: Optional[list[tuple[bytes, bytes]]]
    upstream_body: bytearray
    downstream_body: bytearray
    local_reply: bool
    response: "HttpResponse"

    @property
    def last_action(self) -> Optional[Union[Action, int]]:
        """What the most recent stream callback returned (None before the first one): the Go
        SDK's `GetCurrentHttpStreamAction`. Every callback and its action is in `actions`."""
        return self.actions[-1].action if self.actions else None

    def actions_of(self, callback: str, filter: int = 0) -> list[Union[Action, int]]:
        """The actions one callback (`"on_http_request_body"`) of one filter returned, in order."""
        return [a.action for a in self.actions if a.callback == callback and a.filter == filter]

    @property
    def current_request_headers(self) -> Optional[Headers]:
        """The request headers as the filters have left them so far, readable at any step
        (None before they were sent)."""
        return _headers(self.request_headers)

    @property
    def current_response_headers(self) -> Optional[Headers]:
        """The response headers (with `:status`) as the filters have left them so far."""
        return _headers(self.response_headers)

    @property
    def current_request_trailers(self) -> Optional[Headers]:
        return _headers(self.request_trailers)

    @property
    def current_response_trailers(self) -> Optional[Headers]:
        return _headers(self.response_trailers)

    @property
    def current_request_body(self) -> bytes:
        """The request body so far as the filters have left it: what reached the upstream,
        then what each filter still holds (the last filter's first)."""
        held = b"".join(bytes(f.req.buffer) for f in reversed(self.filters))
        return bytes(self.upstream_body) + held

    @property
    def current_response_body(self) -> bytes:
        """The response body so far: what reached the client, then what the filters hold."""
        held = b"".join(bytes(f.resp.buffer) for f in self.filters)
        return bytes(self.downstream_body) + held

    @property
    def local_response(self) -> Optional["HttpResponse"]:
        """The local reply a filter sent (`send_local_response`), or None: the Go SDK's
        `GetSentLocalResponse`."""
        return self.response if self.local_reply else None
