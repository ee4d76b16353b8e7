"""The hub's web app: starlette routes rendering jinja2 pages from templates/hub/.

Handlers are plain functions, which starlette runs in its thread pool: the registry client
(requests) blocks, and one slow registry answer must not stall the other pages.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from proxywasm_build.errors import UserError
from proxywasm_build.hub.registry import CatalogUnavailable, Hub
from proxywasm_build.resources import templates_dir
from proxywasm_build.wasm.inspect import human_size


def create_app(hub: Hub) -> Starlette:
    """The ASGI app serving `hub`'s pages."""
    templates = Jinja2Templates(directory=str(templates_dir()))
    templates.env.filters["size"] = human_size

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        context.update(hub=hub, query=request.query_params.get("q", ""))
        return templates.TemplateResponse(request, f"hub/{name}", context, status_code=status)

    def repositories(request: Request) -> Response:
        query = request.query_params.get("q", "")
        try:
            return page(request, "index.html", repositories=hub.repositories(query), unlisted=None)
        except CatalogUnavailable as unlisted:
            return page(request, "index.html", repositories=[], unlisted=str(unlisted))

    def open_repository(request: Request) -> Response:
        name = request.query_params.get("name", "").strip().strip("/")
        if not name:
            return RedirectResponse(request.url_for("repositories"), status_code=303)
        return RedirectResponse(request.url_for("repository", repository=name), status_code=303)

    def repository(request: Request) -> Response:
        name = request.path_params["repository"]
        query = request.query_params.get("q", "")
        return page(request, "repository.html", repository=name, tags=hub.tags(name, query))

    def image(request: Request) -> Response:
        view = hub.image(request.path_params["repository"], request.path_params["tag"])
        return page(request, "image.html", image=view, facts=view.facts)

    def user_error(request: Request, error: Exception) -> Response:
        return page(request, "error.html", status=502, message=str(error))

    routes = [
        Route("/", repositories, name="repositories"),
        Route("/open", open_repository, name="open"),
        Route("/repositories/{repository:path}", repository, name="repository"),
        Route("/images/{repository:path}:{tag}", image, name="image"),
    ]
    return Starlette(routes=routes, exception_handlers={UserError: user_error})


def serve(hub: Hub, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the hub with uvicorn until interrupted."""
    import socket

    import uvicorn

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:  # one sentence, not uvicorn's log
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise UserError(f"cannot listen on {host}:{port}: {err.strerror}.") from None
    uvicorn.run(create_app(hub), host=host, port=port, log_level="warning")
