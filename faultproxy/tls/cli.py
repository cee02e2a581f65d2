"""``faultproxy ca path|export|info``: the local CA that signs the certificates the proxy presents.

``path`` prints the file to trust (``export SSL_CERT_FILE=$(faultproxy ca path)``), ``export``
writes the certificate (PEM, or DER for the tools that want it), ``info`` says what it is and
how each kind of client is made to trust it. Each creates the CA first if there is none yet.
How to trust it, client by client: ``docs/tls.md``.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path

import click

from faultproxy.cli import BadInput


def _ca():
    from faultproxy.tls.ca import CAError, LocalCA

    try:
        return LocalCA.load_or_create()
    except CAError as error:
        raise BadInput(str(error)) from None


@click.group("ca")
def ca() -> None:
    """The local CA: the certificate to trust so that clients accept the proxy's TLS."""


@ca.command("path")
def path() -> None:
    """Print the path of the CA certificate (the file to trust)."""
    click.echo(str(_ca().cert_path))


@ca.command("export")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of stdout.",
)
@click.option("--der", is_flag=True, help="DER (binary) instead of PEM.")
def export(output: Path | None, der: bool) -> None:
    """Write the CA certificate (never its key) to stdout or a file."""
    import ssl

    pem = _ca().cert_pem
    data = ssl.PEM_cert_to_DER_cert(pem.decode("ascii")) if der else pem
    if output is None:
        if der and sys.stdout.isatty():
            raise click.UsageError("--der writes binary: give -o FILE or redirect stdout")
        sys.stdout.buffer.write(data)
        return
    try:
        output.write_bytes(data)
    except OSError as error:
        raise BadInput(f"cannot write {output}: {error.strerror or error}") from None
    click.echo(f"wrote {output}", err=True)


@ca.command("info")
def info() -> None:
    """What the CA is, and the settings that make each kind of client trust it."""
    import ssl

    local = _ca()
    der = ssl.PEM_cert_to_DER_cert(local.cert_pem.decode("ascii"))
    fingerprint = hashlib.sha256(der).hexdigest().upper()
    spki = base64.b64encode(local.spki_sha256).decode()
    cert = local.cert_path
    click.echo(f"subject:     {local.subject}")
    click.echo(f"certificate: {cert}")
    click.echo(f"key:         {cert.parent / 'ca.pem'} (keep it private)")
    click.echo(f"SHA-256:     {':'.join(fingerprint[i : i + 2] for i in range(0, len(fingerprint), 2))}")
    click.echo(f"SPKI SHA-256 (base64): {spki}")
    click.echo("")
    click.echo("trust it (see docs/tls.md):")
    click.echo(f"  Python (httpx, the openai and anthropic SDKs, aiohttp): export SSL_CERT_FILE={cert}")
    click.echo(f"  requests:  export REQUESTS_CA_BUNDLE={cert}")
    click.echo(f"  Node.js:   export NODE_EXTRA_CA_CERTS={cert}")
    click.echo(f"  curl:      curl --cacert {cert} ...")
    click.echo(f"  Chromium:  --ignore-certificate-errors-spki-list={spki} (with --user-data-dir)")
