"""The named proxies a control server owns, and what Toxiproxy's API does to them.

Everything here runs on the one event loop the proxies relay on (the API handlers are
coroutines on it too), so a change is applied when the call returns: a client that adds a
toxic and then connects meets the toxic. A lock orders every change, since some wait for a
socket (create, update, delete, populate): two requests cannot both create the same name, and
a toxic added while an update replaces its proxy lands on the new proxy, not the old one.

Errors are :class:`ControlError` with Toxiproxy's status codes and wording where it has one
(``proxy not found``, ``toxic already exists``, …); a bad toxic keeps the message of
:class:`~faultproxy.faults.FaultSpecError`, which names the field and what it allows.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faultproxy.faults import FaultSet, FaultSpec, FaultSpecError, parse_fault
from faultproxy.net.addresses import error_text, parse_listen, parse_upstream, url_host
from faultproxy.proxy.server import Proxy

DEFAULT_LISTEN = "127.0.0.1:0"  # Toxiproxy's empty listen is every interface; ours stays on loopback
TOXIC_FIELDS_FIXED = ("name", "type", "stream")  # what a toxic update may not change


class ControlError(Exception):
    """An API error: ``{"error": message, "status": status}`` on the wire."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


MAX_NAME = 128
NAME_FORBIDDEN = "/\\%?#"  # what a path segment cannot carry as is, or carries ambiguously
NAME_RULE = (
    f"1 to {MAX_NAME} printable characters, no {' '.join(NAME_FORBIDDEN)} and no space at either end, "
    "not '.' or '..' (it goes in the URL /proxies/NAME)"
)


def check_name(what: str, name: Any, where: str = "") -> None:
    """A proxy or toxic name that can be read, updated and deleted at ``/proxies/NAME`` later, or a
    :class:`ControlError` (400): ``a/b``, ``..`` or 100,000 characters could be created, never reached."""
    if not isinstance(name, str):
        return  # the field checks say what a name must be
    if (
        0 < len(name) <= MAX_NAME
        and name.isprintable()
        and name == name.strip()
        and name not in (".", "..")
        and not any(c in NAME_FORBIDDEN for c in name)
    ):
        return
    shown = repr(name) if len(name) <= 40 else f"{name[:40]!r}… ({len(name)} characters)"
    raise ControlError(400, f"{what} name {shown}{where} not allowed: use {NAME_RULE}")


def not_found(what: str, name: str) -> ControlError:
    return ControlError(404, f"{what} not found: {name}")


class Managed:
    """One named proxy: the :class:`Proxy` and the upstream as the client wrote it (shown back)."""

    def __init__(self, name: str, upstream: str, proxy: Proxy):
        self.name = name
        self.upstream = upstream
        self.proxy = proxy

    @property
    def listen(self) -> str:
        """The address it really listens on: port 0 asked becomes the port it got."""
        return f"{url_host(self.proxy.host)}:{self.proxy.port}"

    def as_dict(self) -> dict[str, Any]:
        target = self.proxy.routing.upstream
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.proxy.enabled,
            "toxics": toxics_json(self.proxy),
            # not in Toxiproxy's schema (its clients keep the fields they know): the proxy speaks TLS
            # to this upstream (https://), so its HTTP and SSE toxics act on the decrypted stream
            "upstream_tls": target is not None and target.tls,
        }


def toxics_json(proxy: Proxy) -> list[dict[str, Any]]:
    return [spec.as_dict() for spec in proxy.faults.specs]


class ProxyRequest:
    """A proxy as a client described it (create, populate, config file), checked before use."""

    def __init__(self, body: Any, where: str = ""):
        if not isinstance(body, dict):
            raise ControlError(
                400, f"bad request body{where}: expected a JSON object, got {type(body).__name__}"
            )
        for field in ("name", "upstream"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise ControlError(400, f"missing required field: {field}{where}")
        check_name("proxy", body["name"], where)
        self.name: str = body["name"]
        self.upstream: str = body["upstream"]
        self.listen: str = body.get("listen") or DEFAULT_LISTEN
        self.enabled = body.get("enabled", True)
        if not isinstance(self.enabled, bool):
            raise ControlError(400, f"enabled{where}: must be true or false, got {self.enabled!r}")
        if not isinstance(self.listen, str):
            raise ControlError(400, f"listen{where}: must be a string HOST:PORT, got {self.listen!r}")
        try:
            parse_upstream(self.upstream)
            parse_listen(self.listen)
        except ValueError as error:  # the parsers speak of CLI flags (--listen:); here they are fields
            raise ControlError(400, f"{str(error).removeprefix('--')}{where}") from None


class Registry:
    """Named proxies on the running loop, changed as Toxiproxy's API changes them.

    ``tls``: options every proxy gets for ``https://`` upstreams (``upstream_ca``, ``insecure``,
    ``resolve``, ``keylog``; :func:`~faultproxy.proxy.routing.make_routing`), as ``faultproxy
    server`` takes them: Toxiproxy's clients have no field for them."""

    def __init__(self, tls: dict[str, Any] | None = None) -> None:
        self._proxies: dict[str, Managed] = {}
        self._lock = asyncio.Lock()
        self.tls = dict(tls or {})

    # -- proxies --------------------------------------------------------------------------------

    def all(self) -> list[Managed]:
        return list(self._proxies.values())

    def get(self, name: str) -> Managed:
        managed = self._proxies.get(name)
        if managed is None:
            raise not_found("proxy", name)
        return managed

    async def create(self, body: Any) -> Managed:
        request = ProxyRequest(body)
        async with self._lock:
            if request.name in self._proxies:
                raise ControlError(409, f"proxy already exists: {request.name}")
            return await self._start(request, [])

    async def update(self, name: str, body: Any) -> Managed:
        """``enabled``, ``listen``, ``upstream``: a new address restarts the proxy (its open
        connections are dropped, as Toxiproxy does), keeping its toxics."""
        async with self._lock:
            managed = self.get(name)
            if not isinstance(body, dict):
                raise ControlError(400, "bad request body: expected a JSON object")
            current = {
                "name": name,
                "upstream": managed.upstream,
                "listen": managed.listen,
                "enabled": managed.proxy.enabled,
            }
            request = ProxyRequest({**current, **body, "name": name})
            old = managed.proxy
            if (request.upstream, request.listen) == (managed.upstream, managed.listen):
                await old.set_enabled(request.enabled)
                return managed
            # the port it asks for is the one held now (however the host is spelled: localhost,
            # 0.0.0.0): the old proxy must let go of it first
            same_port = parse_listen(request.listen).port == managed.proxy.port
            if same_port:
                await old.stop()  # the new one needs its port
            try:
                replacement = await self._start(request, old.faults.specs)
            except ControlError as error:
                if not same_port:
                    raise  # the old proxy is still there, unchanged
                del self._proxies[name]
                raise ControlError(error.status, f"{error.message}; proxy {name} is removed") from None
            await old.stop()
            return replacement

    async def delete(self, name: str) -> None:
        async with self._lock:
            managed = self.get(name)
            del self._proxies[name]
            await managed.proxy.stop()

    async def populate(self, bodies: Any) -> list[Managed]:
        """Create or replace a list of proxies: all are checked before any is touched, and one
        that exists with the same listen and upstream is kept as it is (with its toxics)."""
        if not isinstance(bodies, list):
            raise ControlError(400, "bad request body: expected a JSON list of proxies")
        requests = [ProxyRequest(body, f" at proxy {i + 1}") for i, body in enumerate(bodies)]
        names = [r.name for r in requests]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ControlError(400, f"duplicate proxy name: {duplicate}")
        async with self._lock:
            result = []
            for request in requests:
                existing = self._proxies.get(request.name)
                if existing is not None and (existing.upstream, existing.listen) == (
                    request.upstream,
                    request.listen,
                ):
                    result.append(existing)
                    continue
                if existing is not None:
                    del self._proxies[request.name]
                    await existing.proxy.stop()
                result.append(await self._start(request, []))
            return result

    async def reset(self) -> None:
        """Toxiproxy's reset: every proxy enabled, every toxic removed."""
        async with self._lock:
            for managed in self.all():
                managed.proxy.faults.clear()
                await managed.proxy.set_enabled(True)

    async def close(self) -> None:
        async with self._lock:
            proxies, self._proxies = self.all(), {}
            for managed in proxies:
                await managed.proxy.stop()

    async def _start(self, request: ProxyRequest, faults: list[FaultSpec]) -> Managed:
        tls = self.tls if request.upstream.startswith("https://") else {}
        try:
            proxy = Proxy(request.upstream, request.listen, raw=None, faults=faults, **tls)
        except ValueError as error:
            raise ControlError(400, str(error)) from None
        proxy.enabled = request.enabled  # before start: it still takes its port, and refuses
        try:
            await proxy.start()
        except OSError as error:
            raise ControlError(500, f"cannot listen on {request.listen}: {error_text(error)}") from None
        managed = self._proxies[request.name] = Managed(request.name, request.upstream, proxy)
        return managed

    # -- toxics ---------------------------------------------------------------------------------

    def toxic(self, proxy: str, name: str) -> FaultSpec:
        spec = self.get(proxy).proxy.faults.get(name)
        if spec is None:
            raise not_found("toxic", name)
        return spec

    async def add_toxic(self, proxy: str, body: Any) -> FaultSpec:
        async with self._lock:  # not into a proxy that an update is replacing meanwhile
            faults = self.get(proxy).proxy.faults
            return _add(faults, _with_defaults(body))

    async def update_toxic(self, proxy: str, name: str, body: Any) -> FaultSpec:
        async with self._lock:
            return self._update_toxic(proxy, name, body)

    async def remove_toxic(self, proxy: str, name: str) -> None:
        async with self._lock:
            self.toxic(proxy, name)
            self.get(proxy).proxy.faults.remove(name)

    def _update_toxic(self, proxy: str, name: str, body: Any) -> FaultSpec:
        """Toxiproxy's update: the fields given replace the toxic's, attributes one by one."""
        current = self.toxic(proxy, name).as_dict()
        if not isinstance(body, dict):
            raise ControlError(400, "bad request body: expected a JSON object")
        for field in TOXIC_FIELDS_FIXED:
            if field in body and body[field] != current[field]:
                raise ControlError(
                    400, f"toxic {name!r}: {field} cannot be changed (remove and add it again)"
                )
        attributes = body.get("attributes", {})
        if not isinstance(attributes, dict):
            raise ControlError(400, f"toxic {name!r}: 'attributes' must be a mapping")
        merged = {**current, **body, "attributes": {**current["attributes"], **attributes}}
        return self.get(proxy).proxy.faults.replace(_parse_toxic(merged))


def _with_defaults(body: Any) -> Any:
    """Toxiproxy's defaults for what a client leaves out or empty (its Go client always sends
    ``"name": ""``): stream ``downstream``, then the name ``TYPE_STREAM``, so that a second toxic
    of a kind is a clear 409 rather than a second nameless one."""
    if not isinstance(body, dict) or "type" not in body:
        return body
    body = {k: v for k, v in body.items() if v not in ("", None) or k not in ("name", "stream")}
    body.setdefault("stream", "downstream")
    body.setdefault("name", f"{body['type']}_{body['stream']}")
    return body


def _add(faults: FaultSet, body: Any) -> FaultSpec:
    spec = _parse_toxic(body, index=len(faults.specs))
    check_name("toxic", spec.name)
    try:
        return faults.add(spec)
    except ValueError:
        raise ControlError(409, f"toxic already exists: {spec.name}") from None


def _parse_toxic(body: Any, index: int = 0) -> FaultSpec:
    try:
        return parse_fault(body, index=index)
    except FaultSpecError as error:
        raise ControlError(400, str(error)) from None
