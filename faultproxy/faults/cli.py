"""``faultproxy faults``: every registered fault with its layer, attributes, types and ranges."""

from __future__ import annotations

import json

import click

from faultproxy.faults.spec import DIRECTION_STREAM, describe_attribute


def describe_faults() -> list[dict[str, object]]:
    from faultproxy.faults import REGISTRY

    out = []
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        schema = cls.Attributes.model_json_schema()
        out.append({
            "type": name,
            "layer": cls.layer,
            "streams": [DIRECTION_STREAM[d] for d in cls.directions],
            "summary": cls.summary,
            "attributes": schema.get("properties", {}),
            "required": schema.get("required", []),
        })
    return out


@click.command("faults")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable, one object per fault.")
def faults(as_json: bool) -> None:
    """List the faults a proxy can apply, with their attributes."""
    described = describe_faults()
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    for fault in described:
        click.echo(f"{fault['type']}  [{fault['layer']}; {'/'.join(fault['streams'])}]  {fault['summary']}")
        for name, prop in fault["attributes"].items():  # type: ignore[union-attr]
            click.echo("    " + describe_attribute(name, prop, name in fault["required"]))  # type: ignore[operator]
