"""allow_deny: allow or deny requests by header, path prefix or method.

Plugin configuration (JSON, every key optional):

    {
      "deny": {
        "headers": ["x-deny"],             # deny when any of these headers is present...
        "header_values": {"x-env": "dev"}, # ...or has exactly this value
        "path_prefixes": ["/admin"],       # deny paths starting with one of these (query ignored)
        "methods": ["DELETE"]              # deny these methods (case-insensitive)
      },
      "allow": { ...same keys... },        # when given, a request must match it to pass
      "status": 403,                       # status of the denial
      "body": "denied\\n",                 # body of the denial
      "response_header": ["x-allow-deny", "allowed"]   # added to every allowed response
    }

With no configuration, requests carrying an `x-deny` header are denied (as in DESIGN.md).
A denied request never reaches the upstream: the client gets the local reply, with an
`x-denied-by: allow-deny` header and an `x-deny-reason` header saying which rule matched.
Deny rules win over allow rules. A configuration that is not JSON of this shape is refused:
`on_configure` logs why and returns False, so Envoy does not start the plugin.
"""

import json

import proxywasm
from proxywasm import Action, HttpContext, RootContext


class Rules:
    """One set of match criteria; `match` returns a reason string, or None."""

    def __init__(self, config: dict) -> None:
        self.headers = [name.lower() for name in config.get("headers", [])]
        self.header_values = {name.lower(): value
                              for name, value in config.get("header_values", {}).items()}
        self.path_prefixes = list(config.get("path_prefixes", []))
        self.methods = {method.upper() for method in config.get("methods", [])}

    def match(self, context: HttpContext) -> str | None:
        for name in self.headers:
            if context.get_http_request_header(name) is not None:
                return f"header {name}"
        for name, expected in self.header_values.items():
            if context.get_http_request_header(name) == expected:
                return f"header {name}={expected}"
        if self.path_prefixes:
            path = (context.get_http_request_header(":path") or "/").split("?", 1)[0]
            for prefix in self.path_prefixes:
                if path.startswith(prefix):
                    return f"path {prefix}"
        if self.methods:
            method = (context.get_http_request_header(":method") or "").upper()
            if method in self.methods:
                return f"method {method}"
        return None


class AllowDeny(HttpContext):
    denied = False

    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        root = self.root
        reason = root.deny.match(self)
        if reason is None and root.allow is not None and root.allow.match(self) is None:
            reason = "not allowed"
        if reason is not None:
            self.denied = True
            self.send_http_response(root.status, [("x-denied-by", "allow-deny"),
                                                  ("x-deny-reason", reason)], root.body)
            return Action.PAUSE
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        # As in Envoy, a local reply also runs through the response path: tag only real answers.
        if not self.denied and self.root.response_header is not None:
            self.set_http_response_header(*self.root.response_header)
        return Action.CONTINUE


class Root(RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        try:
            config = json.loads(self.get_plugin_configuration() or b"{}")
            self.deny = Rules(config.get("deny", {"headers": ["x-deny"]}))
            self.allow = Rules(config["allow"]) if "allow" in config else None
            self.status = int(config.get("status", 403))
            self.body = config.get("body", "denied\n").encode()
            header = config.get("response_header", ["x-allow-deny", "allowed"])
            self.response_header = (str(header[0]), str(header[1])) if header else None
        except (ValueError, TypeError, AttributeError, IndexError) as err:
            proxywasm.log_error(f"allow-deny: bad plugin configuration: {err}")
            return False
        return True

    def create_http_context(self, context_id: int) -> HttpContext:
        return AllowDeny(context_id, self)


proxywasm.set_root_context(Root)
