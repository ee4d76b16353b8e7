"""`proxywasm hub`: a local web app over an OCI registry's module images.

- `registry.py`: the view-model (repositories and tags read lazily and paged; an image's facts
  read once per manifest digest and cached),
- `signatures.py`: the signed/unsigned badge (cosign key-based signatures, `ship/signing.py`),
- `app.py`: the starlette app and its jinja2 pages (templates/hub/ in the package data).
"""
