"""Toxiproxy's HTTP API over a :class:`~faultproxy.control.registry.Registry`, as a Starlette app.

The routes, status codes and JSON shapes are Toxiproxy's, so its clients work unchanged:
creating a proxy answers 201, creating a toxic 200, deletes and ``/reset`` 204 with no body,
``/populate`` 201 with ``{"proxies": [...]}``; errors are ``{"error": ..., "status": N}``
with 400 (bad body or toxic), 404 (no such proxy or toxic), 409 (the name exists). ``POST``
and ``PATCH`` both update, as in Toxiproxy 2.

Like Toxiproxy, requests from browsers (a ``Mozilla/`` user agent) are refused with 403: a
web page must not be able to reconfigure the proxies of the machine it is viewed on. So are
Host names that are neither addresses nor ``localhost`` (DNS rebinding), bodies over 1 MiB (413)
and JSON deeper than 32 levels (400): :mod:`faultproxy.control.guard`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from faultproxy import __version__
from faultproxy.control.guard import Guard, read_json
from faultproxy.control.metrics import render_metrics
from faultproxy.control.registry import ControlError, Registry, toxics_json

UPDATE = ["POST", "PATCH"]


def _error(error: ControlError) -> JSONResponse:
    return JSONResponse({"error": error.message, "status": error.status}, status_code=error.status)


def build_app(registry: Registry, allowed_hosts: Iterable[str] = ()) -> Any:
    """The API app; every handler runs on the registry's (and the proxies') event loop.
    ``allowed_hosts``: DNS names besides ``localhost`` a request's Host may give."""

    async def version(request: Request) -> Response:
        return JSONResponse({"version": __version__})

    async def proxies(request: Request) -> Response:
        return JSONResponse({m.name: m.as_dict() for m in registry.all()})

    async def create(request: Request) -> Response:
        managed = await registry.create(await read_json(request))
        return JSONResponse(managed.as_dict(), status_code=201)

    async def populate(request: Request) -> Response:
        try:
            created = await registry.populate(await read_json(request))
        except ControlError as error:
            body = {"error": error.message, "status": error.status, "proxies": []}
            return JSONResponse(body, status_code=error.status)
        return JSONResponse({"proxies": [m.as_dict() for m in created]}, status_code=201)

    async def show(request: Request) -> Response:
        return JSONResponse(registry.get(request.path_params["proxy"]).as_dict())

    async def update(request: Request) -> Response:
        managed = await registry.update(request.path_params["proxy"], await read_json(request))
        return JSONResponse(managed.as_dict())

    async def delete(request: Request) -> Response:
        await registry.delete(request.path_params["proxy"])
        return Response(status_code=204)

    async def toxics(request: Request) -> Response:
        return JSONResponse(toxics_json(registry.get(request.path_params["proxy"]).proxy))

    async def add_toxic(request: Request) -> Response:
        spec = await registry.add_toxic(request.path_params["proxy"], await read_json(request))
        return JSONResponse(spec.as_dict())

    async def show_toxic(request: Request) -> Response:
        p = request.path_params
        return JSONResponse(registry.toxic(p["proxy"], p["toxic"]).as_dict())

    async def update_toxic(request: Request) -> Response:
        p = request.path_params
        spec = await registry.update_toxic(p["proxy"], p["toxic"], await read_json(request))
        return JSONResponse(spec.as_dict())

    async def remove_toxic(request: Request) -> Response:
        p = request.path_params
        await registry.remove_toxic(p["proxy"], p["toxic"])
        return Response(status_code=204)

    async def reset(request: Request) -> Response:
        await registry.reset()
        return Response(status_code=204)

    async def metrics(request: Request) -> Response:
        body, content_type = render_metrics(registry.all(), request.headers.get("accept", ""))
        return Response(body, headers={"Content-Type": content_type})

    async def errors(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ControlError)
        return _error(exc)

    app = Starlette(
        routes=[
            Route("/version", version, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/reset", reset, methods=["POST"]),
            Route("/populate", populate, methods=["POST"]),
            Route("/proxies", proxies, methods=["GET"]),
            Route("/proxies", create, methods=["POST"]),
            Route("/proxies/{proxy}", show, methods=["GET"]),
            Route("/proxies/{proxy}", update, methods=UPDATE),
            Route("/proxies/{proxy}", delete, methods=["DELETE"]),
            Route("/proxies/{proxy}/toxics", toxics, methods=["GET"]),
            Route("/proxies/{proxy}/toxics", add_toxic, methods=["POST"]),
            Route("/proxies/{proxy}/toxics/{toxic}", show_toxic, methods=["GET"]),
            Route("/proxies/{proxy}/toxics/{toxic}", update_toxic, methods=UPDATE),
            Route("/proxies/{proxy}/toxics/{toxic}", remove_toxic, methods=["DELETE"]),
        ],
        exception_handlers={ControlError: errors},
    )
    return Guard(app, allowed_hosts)
