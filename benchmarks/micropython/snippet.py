# Runs once per VM inside the MicroPython probe (benchmarks/micropython_probe.py) when Envoy
# starts it; MicroPython's language subset. The glue then calls `on_start()` and logs its result
# through proxy_log (warn), and calls `on_request()` for every response, its result becoming the
# response header `x-micropython`.
import sys

requests = 0


def on_request():
    global requests
    requests += 1
    return "%s %s request %d" % (sys.implementation.name, VERSION, requests)


def _checked():
    try:
        raise ValueError("caught")
    except ValueError as error:
        return str(error)


VERSION = ".".join(str(part) for part in sys.implementation.version[:3])


def on_start():
    return "micropython-probe: MicroPython %s started in Envoy, sum(range(10)) = %d, exception %s" % (
        VERSION, sum(range(10)), _checked())
