"""rate_limit: a token bucket shared by every worker, refilled by the tick.

Plugin configuration (JSON; every key optional):

    {
      "capacity": 10,            # most tokens the bucket holds (and starts with)
      "refill": 5,               # tokens added every period
      "period_seconds": 1,       # how often the bucket is refilled (the tick period)
      "bucket": "rate_limit"     # shared-data key, to share or separate buckets between plugins
    }

Each request takes one token. With none left the client gets `429 Too Many Requests` with a
`retry-after` header (seconds until the next refill) and the upstream is never contacted.
Allowed responses carry `x-ratelimit-remaining`.

The bucket lives in shared data as `b"<tokens> <last refill time in ns>"`, so all the worker
threads of an Envoy share it. Every read-modify-write is a compare-and-swap loop: a write that
lost a race to another worker (`CasMismatch`) reads again and retries. Each worker's root
context ticks, so the refill is computed from the time elapsed since the last refill recorded
in the bucket: however many workers tick, the bucket gains `refill` tokens per period.
"""

import json

import proxywasm
from proxywasm import Action, CasMismatch, HttpContext, RootContext

CAS_ATTEMPTS = 16
NANOS = 1_000_000_000


class RateLimited(HttpContext):
    remaining = None

    def on_http_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        root = self.root
        remaining = root.take_token()
        if remaining is None:
            root.limited.increment()
            self.send_http_response(429, [("retry-after", str(root.seconds_to_refill()))],
                                    b"too many requests\n")
            return Action.PAUSE
        self.remaining = remaining
        return Action.CONTINUE

    def on_http_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        if self.remaining is not None:
            self.set_http_response_header("x-ratelimit-remaining", str(self.remaining))
        return Action.CONTINUE


class Root(RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
        try:
            config = json.loads(self.get_plugin_configuration() or b"{}")
            self.capacity = int(config.get("capacity", 10))
            self.refill = int(config.get("refill", 5))
            self.period_ns = int(float(config.get("period_seconds", 1)) * NANOS)
            self.bucket = str(config.get("bucket", "rate_limit"))
        except (ValueError, TypeError, AttributeError) as err:
            proxywasm.log_error(f"rate-limit: bad plugin configuration: {err}")
            return False
        if self.capacity < 1 or self.refill < 1 or self.period_ns < 1_000_000:
            proxywasm.log_error("rate-limit: capacity and refill must be >= 1 and "
                                "period_seconds >= 0.001")
            return False
        self.limited = proxywasm.Counter("rate_limit.limited")
        if self.get_shared_data(self.bucket)[0] is None:
            self.store(self.capacity, self.get_current_time_nanoseconds(), None)
        self.set_tick_period(self.period_ns / NANOS)
        return True

    def create_http_context(self, context_id: int) -> HttpContext:
        return RateLimited(context_id, self)

    # --- the bucket in shared data ---------------------------------------------------------
    def load(self) -> tuple[int, int, int | None]:
        """(tokens, last refill ns, cas) of the bucket."""
        value, cas = self.get_shared_data(self.bucket)
        if value is None:
            return self.capacity, self.get_current_time_nanoseconds(), None
        tokens, last_refill = value.split(b" ")
        return int(tokens), int(last_refill), cas

    def store(self, tokens: int, last_refill: int, cas: int | None) -> None:
        self.set_shared_data(self.bucket, f"{tokens} {last_refill}", cas)

    def take_token(self) -> int | None:
        """Take one token: the tokens left, or None when the bucket is empty."""
        for _ in range(CAS_ATTEMPTS):
            tokens, last_refill, cas = self.load()
            if tokens <= 0:
                return None
            try:
                self.store(tokens - 1, last_refill, cas)
                return tokens - 1
            except CasMismatch:
                continue  # another worker took or refilled meanwhile: read again
        proxywasm.log_warn("rate-limit: bucket too contended, letting the request through")
        return 0

    def on_tick(self) -> None:
        now = self.get_current_time_nanoseconds()
        for _ in range(CAS_ATTEMPTS):
            tokens, last_refill, cas = self.load()
            periods = (now - last_refill) // self.period_ns
            if periods <= 0:
                return  # another worker already refilled for this period
            tokens = min(self.capacity, tokens + periods * self.refill)
            try:
                self.store(tokens, last_refill + periods * self.period_ns, cas)
                return
            except CasMismatch:
                continue

    def seconds_to_refill(self) -> int:
        _tokens, last_refill, _cas = self.load()
        wait_ns = last_refill + self.period_ns - self.get_current_time_nanoseconds()
        return max(1, -(-wait_ns // NANOS))


proxywasm.set_root_context(Root)
