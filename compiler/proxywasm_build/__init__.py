"""proxywasm_build: the `proxywasm` command line and everything that is not the SDK.

PYTEST_DONT_REWRITE: pytest marks every package of a distribution that registers a plugin for
assertion rewriting, and `proxywasm test` imports this one before pytest starts; the marker
tells pytest it is not test code, so it does not warn that it cannot rewrite it.
"""
