"""``faultproxy faults``: every registered fault with its layer, attributes, types and ranges."""

from __future__ import annotations

import json

import click

from faultproxy.faults.spec import DIRECTION_STREAM, SHARED_KEYS, describe_attribute


def describe_faults() -> list[dict[str, object]]:
    from faultproxy.faults import REGISTRY

    out = []
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        schema = cls.Attributes.model_json_schema()
        out.append(
            {
                "type": name,
                "layer": cls.layer,
                "streams": [DIRECTION_STREAM[d] for d in cls.directions],
                "summary": cls.summary,
                "attributes": schema.get("properties", {}),
                "required": schema.get("required", []),
            }
        )
    return out


@click.command("faults")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable, one object per fault.")
def faults(as_json: bool) -> None:
    """List the faults a proxy can apply, with their attributes."""
    described = describe_faults()
    if as_json:
        click.echo(json.dumps({"shared_keys": SHARED_KEYS, "faults": described}, indent=2))
        return
    click.echo("Every fault takes these keys beside its attributes (one namespace: no attribute has one of")
    click.echo("these names), e.g. --fault sse_drop:event_index=2,connections=[1],name=lose-one")
    width = max(map(len, SHARED_KEYS))
    for key, meaning in SHARED_KEYS.items():
        click.echo(f"    {key:<{width}}  {meaning}")
    click.echo("")
    for fault in described:
        click.echo(f"{fault['type']}  [{fault['layer']}; {'/'.join(fault['streams'])}]  {fault['summary']}")
        for name, prop in fault["attributes"].items():  # type: ignore[union-attr]
            click.echo("    " + describe_attribute(name, prop, name in fault["required"]))  # type: ignore[operator]
