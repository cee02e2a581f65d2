"""``faultproxy repro nginx --docker``: docker-compose.yml's services run through the Docker SDK.

No ``docker compose`` binary is needed, only an engine the ``docker`` Python package reaches
(``DOCKER_HOST`` or the local socket). :func:`plan` reads the compose file into containers to
start -- images to build or pull, commands, read-only bind mounts, start order by
``depends_on`` -- and :func:`run_compose` runs them on a private network, reads the probe's
JSON and removes everything it made. It understands what this repository's compose file uses
(``build``, ``image``, ``command``, ``volumes``, ``depends_on``) and refuses anything else, so
a change to the compose file cannot be silently half-run.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from faultproxy.provenance import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
KNOWN_KEYS = {"build", "image", "command", "volumes", "depends_on"}
PROBE = "probe"


class DockerUnavailable(RuntimeError):
    """No engine to run on (or no compose file): said in one line."""


@dataclass
class Container:
    """One compose service as the SDK starts it."""

    service: str
    image: str | None  # to pull; None: built from ``build``
    build: Path | None
    command: list[str]
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)  # host path -> {bind, mode}


def _volumes(service: str, items: list[str], base: Path) -> dict[str, dict[str, str]]:
    out = {}
    for item in items:
        parts = item.split(":")
        if len(parts) not in (2, 3) or not parts[0].startswith("."):
            raise ValueError(
                f"service {service}: volume {item!r}: only ./HOST:CONTAINER[:ro] bind mounts are supported"
            )
        out[str((base / parts[0]).resolve())] = {
            "bind": parts[1],
            "mode": parts[2] if len(parts) == 3 else "rw",
        }
    return out


def plan(compose: dict[str, Any], base: Path) -> list[Container]:
    """The services of a compose file (relative paths from ``base``), dependencies first."""
    services = compose.get("services")
    if not isinstance(services, dict) or not services:
        raise ValueError("the compose file has no services")
    for name, spec in services.items():
        unknown = set(spec) - KNOWN_KEYS
        if unknown:
            raise ValueError(f"service {name}: {', '.join(sorted(unknown))} not supported by the SDK runner")
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in path:
            raise ValueError(f"depends_on cycle: {' -> '.join((*path, name))}")
        if name not in services:
            raise ValueError(f"service {path[-1]} depends on {name!r}, which is not a service")
        for dependency in services[name].get("depends_on") or []:
            visit(dependency, (*path, name))
        order.append(name)

    for name in services:
        visit(name, ())
    out = []
    for name in order:
        spec = services[name]
        command = spec.get("command") or []
        if isinstance(command, str):
            command = command.split()
        build = spec.get("build")
        out.append(
            Container(
                name,
                None if build else spec.get("image"),
                (base / build).resolve() if build else None,
                [str(c) for c in command],
                _volumes(name, spec.get("volumes") or [], base),
            )
        )
    return out


def engine() -> Any:
    """A Docker client that answered a ping, or :class:`DockerUnavailable` saying why not."""
    try:
        import docker
    except ImportError:
        raise DockerUnavailable("the docker Python package is not installed (pip install docker)") from None
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as error:  # noqa: BLE001 - whatever the SDK raises, the answer is "no engine"
        where = os.environ.get("DOCKER_HOST") or "the local Docker socket"
        reason = str(error).splitlines()[0][:160]
        raise DockerUnavailable(
            f"no Docker engine reachable at {where} ({reason}); run `faultproxy repro nginx` "
            "without --docker for the same measurement with the local nginx"
        ) from None
    return client


def run_compose(
    names: tuple[str, ...] = (),
    *,
    emulate: bool = True,
    log: Callable[[str], None] = print,
    compose_file: Path = COMPOSE_FILE,
) -> dict[str, Any]:
    """Run the compose file's services; return the probe's report (as ``--json`` prints it)."""
    client = engine()
    if not compose_file.is_file():
        raise DockerUnavailable(f"{compose_file} not found: --docker runs from a checkout of the repository")
    containers = plan(yaml.safe_load(compose_file.read_text()), compose_file.parent)
    run_id = uuid.uuid4().hex[:8]
    network = client.networks.create(f"faultproxy-repro-{run_id}")
    started: list[Any] = []
    built: dict[Path, str] = {}
    try:
        for c in containers:
            image = c.image
            if c.build is not None:
                if c.build not in built:
                    log(f"building the faultproxy image from {c.build} …")
                    built[c.build] = client.images.build(
                        path=str(c.build), tag=f"faultproxy-repro:{run_id}", rm=True
                    )[0].id
                image = built[c.build]
            elif image is not None:
                log(f"pulling {image} …")
                client.images.pull(image)
            command = list(c.command)
            if c.service == PROBE:
                command += [
                    "--json",
                    *(f"--case={n}" for n in names),
                    *([] if emulate else ["--no-emulation"]),
                ]
            container = client.containers.create(
                image,
                command or None,
                name=f"faultproxy-repro-{run_id}-{c.service}",
                volumes=c.volumes,
                detach=True,
            )
            network.connect(container, aliases=[c.service])
            container.start()
            started.append(container)
            log(f"started {c.service}")
        probe = started[-1] if containers[-1].service == PROBE else None
        if probe is None:
            raise ValueError("the compose file has no probe service last")
        status = probe.wait(timeout=600)
        output = probe.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        if status.get("StatusCode") != 0:
            errors = probe.logs(stdout=False, stderr=True).decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError(f"the probe failed ({status.get('StatusCode')}): {' | '.join(errors[-5:])}")
        return json.loads(output[output.index("{") :])
    finally:
        for container in reversed(started):
            container.remove(force=True)
        network.remove()
        for image in built.values():
            client.images.remove(image, force=True)
