"""The project's own settings: ``faultproxy.toml``, or ``[tool.faultproxy]`` in ``pyproject.toml``.

Looked up in the current directory (``faultproxy.toml`` first), or given with ``--config``. Today
it holds the project's own clients, which every scenario with ``clients: all`` then runs
(``docs/clients.md``)::

    # faultproxy.toml                     # (pyproject.toml: the same under [tool.faultproxy])
    [[clients]]
    name = "my-client"
    command = "node my-client.js {url}"
    protocol = "simple"

A client's relative paths start from the config file's directory. Anything else in the table is
refused with a :class:`ConfigError` naming the file and the key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from faultproxy.errors import InputError

CONFIG_FILE = "faultproxy.toml"
KEYS = ("clients",)


class ConfigError(InputError):
    """A config file that cannot be used (``FILE: what is wrong``)."""


_loaded: set[Path] = set()


def find_config(start: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The config file in ``start`` (default: the current directory) and its faultproxy table."""
    folder = (start or Path.cwd()).resolve()
    own = folder / CONFIG_FILE
    if own.is_file():
        return own, _read(own)
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        table = _read(pyproject).get("tool", {}).get("faultproxy")
        if table is not None:
            return pyproject, table
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None


def apply_config(path: Path, table: Any) -> list[str]:
    """Register the clients of one config table; returns their names."""
    from faultproxy.clients import registry

    where = str(path) if path.name == CONFIG_FILE else f"{path} [tool.faultproxy]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    for key in table:
        if key not in KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}; allowed: {', '.join(KEYS)}")
    clients = table.get("clients", [])
    if not isinstance(clients, list):
        raise ConfigError(f"{where}: clients: a list of client tables ([[clients]] in TOML)")
    names = []
    for i, raw in enumerate(clients):
        try:
            info = registry.define(
                raw, where=f"{where} clients[{i}]", here=path.parent, file=str(path), in_all=True
            )
        except registry.ClientSpecError as error:
            raise ConfigError(str(error)) from None
        names.append(info.name)
    return names


def load_project_config(path: Path | None = None) -> list[str]:
    """Load ``path`` (or the config file of the current directory) once; returns its clients' names."""
    found = (path.resolve(), _config_table(path)) if path is not None else find_config()
    if found is None:
        return []
    where, table = found
    if where in _loaded:
        return []
    names = apply_config(where, table)
    _loaded.add(where)
    return names


def _config_table(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    data = _read(path)
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("faultproxy")
        if table is None:
            raise ConfigError(f"{path}: has no [tool.faultproxy] table")
        return table
    return data
