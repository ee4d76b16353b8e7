"""What a test can read of a real Envoy stream mid-way, with the names of the emulator's
`HttpStream` views: only what Envoy shows, which is what has left it.

Envoy shows the request headers and body once they reach the upstream, and the response once
it reaches the client; while a filter holds them they are inside Envoy and a read says so.
Envoy never reports what a callback returned, so `actions` and `last_action` say that too.
"""

from __future__ import annotations

from typing import Any

from proxywasm_build.errors import UserError
from proxywasm_build.envoy.results import make_headers

NO_ACTIONS = ("Envoy does not report what a filter's callbacks returned; a test that reads "
              "actions needs the emulator (mark it @pytest.mark.emulator_only).")


class EnvoyStreamViews:
    """Mixed into `EnvoyHttpStream`: the emulator's mid-stream views, where Envoy has them."""

    upstream_request: Any
    response: Any
    request_paused_at: Any
    response_paused_at: Any

    @property
    def actions(self) -> list:
        raise UserError(NO_ACTIONS)

    @property
    def last_action(self) -> Any:
        raise UserError(NO_ACTIONS)

    def actions_of(self, callback: str, filter: int = 0) -> list:
        raise UserError(NO_ACTIONS)

    def _left_for_upstream(self) -> Any:
        upstream = self.upstream_request
        if upstream is None:
            raise UserError("the request has not reached the upstream: Envoy shows the request "
                            "headers only once a filter lets them go on.")
        return upstream

    @property
    def current_request_headers(self) -> Any:
        """The request headers as the upstream received them (pseudo-headers included)."""
        return self._left_for_upstream().headers

    @property
    def current_request_body(self) -> bytes:
        """The request body the upstream has received, when no filter holds any of it."""
        upstream = self._left_for_upstream()
        if self.request_paused_at is not None:
            raise UserError("a filter holds part of the request body: Envoy shows only what "
                            "reached the upstream.")
        return upstream.body

    @property
    def current_request_trailers(self) -> Any:
        return self._left_for_upstream().trailers

    def _left_for_client(self) -> Any:
        response = self.response
        if response.status is None:
            raise UserError("no response has reached the client: Envoy shows the response "
                            "headers only once a filter lets them go on.")
        return response

    @property
    def current_response_headers(self) -> Any:
        """The response headers (with `:status`) as the client received them."""
        response = self._left_for_client()
        return make_headers([(":status", str(response.status)), *response.headers.items()])

    @property
    def current_response_body(self) -> bytes:
        """The response body the client has received, when no filter holds any of it."""
        response = self._left_for_client()
        if self.response_paused_at is not None:
            raise UserError("a filter holds part of the response body: Envoy shows only what "
                            "reached the client.")
        return response.body

    @property
    def current_response_trailers(self) -> Any:
        return self._left_for_client().trailers

    @property
    def local_response(self) -> Any:
        """The local reply a filter sent, or None (Envoy marks its local replies for us)."""
        response = self.response
        return response if response.local_reply else None
