"""jinja2 templates, installed as the package data `proxywasm_build.templates` (see setup.py)."""
