"""Sources that go into modules, installed as the package data `proxywasm_build.toolchains` (see setup.py)."""
