"""http_auth: ask an authorisation service over HTTP before letting a request through.

Plugin configuration (JSON):

    {
      "cluster": "auth",                 # required: the Envoy cluster of the auth service
      "authority": "auth.internal",      # :authority of the check (default: the cluster name)
      "path": "/check",                  # :path of the check (default "/check")
      "timeout_seconds": 0.5,            # callout timeout (default 1)
      "forward_headers": ["authorization", "cookie"],   # copied from the request to the check
      "copy_headers": ["x-auth-user"]    # copied from an allowing answer onto the request
    }

For every request the filter sends `GET <path>` to the cluster with the forwarded headers plus
`x-original-method` and `x-original-path`, and holds the request (headers and any body) until
the answer arrives:

- 2xx: the request continues, carrying the `copy_headers` of the answer (a client cannot
  forge them: those names are removed from the incoming request first);
- 401 or 403: the client gets that status (with the service's `www-authenticate`, if any);
- any other status: 503, the service is broken; no answer at all (reset, timeout): 503 too,
  and so when the callout cannot even be sent (Envoy has no such cluster).
"""

import json

import proxywasm
from proxywasm import Action, HttpContext, RootContext


class Authorize(HttpContext):
    checking = False

    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        root = self.root
        for name in root.copy_headers:
            self.remove_http_request_header(name)
        headers = [(":method", "GET"), (":path", root.path), (":authority", root.authority),
                   ("x-original-method", self.get_http_request_header(":method") or ""),
                   ("x-original-path", self.get_http_request_header(":path") or "")]
        for name in root.forward_headers:
            value = self.get_http_request_header(name)
            if value is not None:
                headers.append((name, value))
        try:
            self.dispatch_http_call(root.cluster, headers, timeout=root.timeout)
        except proxywasm.HostError as err:  # e.g. Envoy has no such cluster
            proxywasm.log_error(f"http-auth: cannot call cluster {root.cluster}: {err}")
            self.deny(503, "authorization service unavailable\n")
            return Action.PAUSE
        self.checking = True
        return Action.PAUSE  # held until on_http_call_response resumes or answers

    def on_http_request_body(self, body_size: int, end_of_stream: bool) -> Action:
        # Envoy buffers the body itself while the headers are paused and calls this only after
        # the resume; a host that delivered chunks earlier must not get a CONTINUE, which
        # would release the held headers.
        return Action.PAUSE if self.checking else Action.CONTINUE

    def on_http_call_response(self, token_id: int, num_headers: int, body_size: int,
                              num_trailers: int) -> None:
        self.checking = False
        status = self.get_http_call_response_header(":status")
        if status is None:
            proxywasm.log_warn(f"http-auth: no answer from cluster {self.root.cluster}")
            self.deny(503, "authorization service unavailable\n")
        elif status.startswith("2"):
            for name in self.root.copy_headers:
                value = self.get_http_call_response_header(name)
                if value is not None:
                    self.set_http_request_header(name, value)
            self.resume_http_request()
        elif status in ("401", "403"):
            challenge = self.get_http_call_response_header("www-authenticate")
            extra = [("www-authenticate", challenge)] if challenge else []
            self.deny(int(status), "unauthorized\n" if status == "401" else "forbidden\n", extra)
        else:
            proxywasm.log_warn(f"http-auth: authorization service answered {status}")
            self.deny(503, "authorization service error\n")

    def deny(self, status: int, body: str, headers: list | None = None) -> None:
        self.send_http_response(status, [("x-auth-denied-by", "http-auth")] + (headers or []),
                                body.encode())


class Root(RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        try:
            config = json.loads(self.get_plugin_configuration() or b"{}")
            self.cluster = config["cluster"]
            self.authority = config.get("authority", self.cluster)
            self.path = config.get("path", "/check")
            self.timeout = float(config.get("timeout_seconds", 1))
            self.forward_headers = [h.lower() for h in config.get("forward_headers",
                                                                   ["authorization"])]
            self.copy_headers = [h.lower() for h in config.get("copy_headers", [])]
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            proxywasm.log_error(f"http-auth: bad plugin configuration ({type(err).__name__}: "
                                f"{err}); it needs at least {{\"cluster\": \"...\"}}")
            return False
        return True

    def create_http_context(self, context_id: int) -> HttpContext:
        return Authorize(context_id, self)


proxywasm.set_root_context(Root)
