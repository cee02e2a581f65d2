"""The local certificate authority: made once, kept in the user's config directory, minting leaves.

To see inside a TLS connection the proxy has to be the server its client talks to, with a
certificate for the name the client asked for. A local CA that the user trusts once signs
those certificates on demand (see ``docs/tls.md``). It is created on first use and kept, so
that trusting it is done once per machine, not once per run:

- ``ca.pem``: the CA's private key and certificate, mode ``0600`` (whoever reads it can
  impersonate any site to every program that trusts the CA);
- ``ca-cert.pem``: the certificate alone, the file to trust (``faultproxy ca path``).

They live in ``$FAULTPROXY_CONFIG_DIR`` when set (tests), else in the platform's user config
directory (``$XDG_CONFIG_HOME/faultproxy`` or ``~/.config/faultproxy`` on Linux), as
:mod:`platformdirs` says. Two processes that start at once create one CA: the first to *link*
its finished file into place wins, the other loads it. An existing CA file is never
overwritten: one that cannot be read, or is no CA, or is readable by other users, is an error
that names the file and what to do.

Leaf certificates are minted with :mod:`trustme` (its CA reloaded with ``CA.from_pem``) and
cached per host, so a client that opens many connections to one host costs one signature.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import socket
import stat
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

CONFIG_ENV = "FAULTPROXY_CONFIG_DIR"
CA_FILE = "ca.pem"  # key + certificate, 0600
CERT_FILE = "ca-cert.pem"  # the certificate alone: what users trust
ORGANIZATION = "faultproxy"
LEAF_DAYS = 365  # Apple's clients refuse TLS server certificates valid for more than 825 days
LEAF_CACHE = 1024  # hosts whose minted leaf is kept

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----\r?\n.+?-----END \1-----\r?\n?", re.S)


class CAError(Exception):
    """The local CA cannot be used; the message says which file and what to do."""


def config_dir() -> Path:
    """Where faultproxy keeps its state: ``$FAULTPROXY_CONFIG_DIR``, else the user config directory."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("faultproxy", appauthor=False))


def normalize_host(host: str) -> str:
    """A host name as certificates and caches compare it: lower case, no trailing dot, IPv6 without brackets."""
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Leaf:
    """A certificate minted for one host, with its private key (PEM)."""

    host: str
    key_pem: bytes
    chain_pem: bytes  # the leaf's certificate, then the CA's
    subject: str  # RFC 4514, for handshake facts

    def load_into(self, context) -> None:  # context: ssl.SSLContext
        """Make ``context`` present this certificate. ``load_cert_chain`` reads only files: a
        private temporary one (mode 0600), removed at once."""
        fd, path = tempfile.mkstemp(prefix="faultproxy-leaf-", suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(self.key_pem + self.chain_pem)
            context.load_cert_chain(path)
        finally:
            os.unlink(path)


class LocalCA:
    """A CA that signs leaf certificates for the hosts the proxy poses as.

    ``LocalCA.load_or_create()`` is the user's CA (see the module docstring);
    ``LocalCA.ephemeral()`` a throw-away one in memory (tests, scenario runs), whose certificate
    can still be written to a file for clients with :meth:`write_cert`.
    """

    def __init__(self, ca: trustme.CA, cert_path: Path | None = None, *, cache_size: int = LEAF_CACHE):
        self._ca = ca
        self.cert_path = cert_path  # the file to trust, when the CA is kept on disk
        self.cert_pem: bytes = ca.cert_pem.bytes()
        self.certificate = x509.load_pem_x509_certificate(self.cert_pem)
        self._leaves: OrderedDict[str, Leaf] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # proxies may mint from several threads (the control API's)

    # -- making and finding one ----------------------------------------------------------------

    @classmethod
    def ephemeral(cls) -> LocalCA:
        return cls(_new_trustme_ca("faultproxy temporary CA"))

    @classmethod
    def load_or_create(cls, directory: Path | None = None) -> LocalCA:
        """The CA kept in ``directory`` (default: :func:`config_dir`), created there if there is none."""
        directory = Path(directory) if directory is not None else config_dir()
        path = directory / CA_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = _create(directory)
        except OSError as error:
            raise CAError(f"cannot read the local CA {path}: {error.strerror or error}") from None
        else:
            _check_private(path)
        ca = cls(_parse_bundle(path, data), directory / CERT_FILE)
        ca._write_cert_file()
        return ca

    def _write_cert_file(self) -> None:
        """``ca-cert.pem``, (re)written when missing or not this CA's (atomic: readers never see half)."""
        assert self.cert_path is not None
        try:
            if self.cert_path.read_bytes() == self.cert_pem:
                return
        except OSError:
            pass
        _write_atomic(self.cert_path, self.cert_pem, 0o644)

    def write_cert(self, path: Path) -> Path:
        """Write the CA certificate to ``path`` (for clients that read a CA file); returns it."""
        Path(path).write_bytes(self.cert_pem)
        return Path(path)

    # -- what it is ------------------------------------------------------------------------------

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def spki_sha256(self) -> bytes:
        """SHA-256 of the CA's SubjectPublicKeyInfo (what Chromium's ``--ignore-certificate-errors-spki-list`` takes, base64)."""
        from cryptography.hazmat.primitives import hashes

        digest = hashes.Hash(hashes.SHA256())
        digest.update(
            self.certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        )
        return digest.finalize()

    def trust(self, context) -> None:  # context: ssl.SSLContext
        """Make a client ``context`` trust this CA."""
        self._ca.configure_trust(context)

    # -- leaves ---------------------------------------------------------------------------------

    def leaf(self, host: str) -> Leaf:
        """The certificate for ``host`` (a DNS name or an IP address), minted once and cached."""
        host = normalize_host(host)
        with self._lock:
            leaf = self._leaves.get(host)
            if leaf is not None:
                self._leaves.move_to_end(host)
                return leaf
        leaf = self.mint(host)
        with self._lock:
            self._leaves[host] = leaf
            while len(self._leaves) > self._cache_size:
                self._leaves.popitem(last=False)
        return leaf

    def mint(self, *hosts: str) -> Leaf:
        """A new certificate valid for every one of ``hosts`` (not cached: see :meth:`leaf`)."""
        hosts = tuple(normalize_host(host) for host in hosts)
        if not hosts or not all(hosts):
            raise ValueError("no host name to make a certificate for")
        name = next((host for host in hosts if not is_ip(host)), None)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        try:
            issued = self._ca.issue_cert(
                *hosts,
                common_name=name[:64] if name else None,
                organization_name=ORGANIZATION,
                organization_unit_name="faultproxy interception",
                not_before=now - dt.timedelta(days=2),  # a client whose clock is a little behind
                not_after=now + dt.timedelta(days=LEAF_DAYS),
            )
        except (ValueError, UnicodeError) as error:  # idna refuses what is no host name
            raise ValueError(
                f"cannot make a certificate for {', '.join(map(repr, hosts))}: {error}"
            ) from None
        # The CA goes with the leaf: clients that trust it by its key (Chromium's
        # --ignore-certificate-errors-spki-list) look for it among the certificates sent.
        chain = b"".join(blob.bytes() for blob in issued.cert_chain_pems) + self.cert_pem
        subject = x509.load_pem_x509_certificate(chain).subject.rfc4514_string()
        return Leaf(hosts[0], issued.private_key_pem.bytes(), chain, subject)


def _new_trustme_ca(what: str) -> trustme.CA:
    date = dt.date.today().isoformat()
    return trustme.CA(
        organization_name=ORGANIZATION, organization_unit_name=f"{what} ({socket.gethostname()[:40]}, {date})"
    )


def _create(directory: Path) -> bytes:
    """A new CA file in ``directory``; if another process made one meanwhile, that one."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise CAError(f"cannot create {directory} for the local CA: {error.strerror or error}") from None
    ca = _new_trustme_ca("faultproxy local CA")
    data = ca.private_key_pem.bytes() + ca.cert_pem.bytes()
    path = directory / CA_FILE
    fd, tmp = tempfile.mkstemp(prefix=".ca-", dir=directory)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(tmp, path)  # fails if it exists: an existing CA is never replaced
        except FileExistsError:
            return path.read_bytes()
    except OSError as error:
        raise CAError(f"cannot write the local CA {path}: {error.strerror or error}") from None
    finally:
        os.unlink(tmp)
    return data


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        raise CAError(
            f"the local CA's private key {path} is readable by other users (mode {mode:04o}): "
            f"run 'chmod 600 {path}' (or delete it to make a new CA)"
        )


def _parse_bundle(path: Path, data: bytes) -> trustme.CA:
    blocks: dict[bytes, bytes] = {}
    for match in _PEM_BLOCK.finditer(data):
        blocks.setdefault(match.group(1), match.group(0))
    cert = blocks.get(b"CERTIFICATE")
    key = next((pem for label, pem in blocks.items() if label.endswith(b"PRIVATE KEY")), None)
    if cert is None or key is None:
        missing = "certificate" if cert is None else "private key"
        raise CAError(f"the local CA {path} has no {missing} (PEM): move it away to make a new CA")
    try:
        ca = trustme.CA.from_pem(cert, key)
    except ValueError as error:
        raise CAError(
            f"the local CA {path} cannot be read ({error}): move it away to make a new CA"
        ) from None
    certificate = x509.load_pem_x509_certificate(cert)
    own_key = ca.private_key_pem.bytes()
    public = certificate.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    if _public_of(own_key) != public:
        raise CAError(f"the local CA {path}: the private key does not belong to the certificate")
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise CAError(f"the local CA {path} holds a certificate that is not a CA certificate")
    if certificate.not_valid_after_utc < dt.datetime.now(dt.UTC):
        raise CAError(
            f"the local CA {path} expired on {certificate.not_valid_after_utc:%Y-%m-%d}: "
            "move it away to make a new CA (and trust the new one)"
        )
    return ca


def _public_of(key_pem: bytes) -> bytes:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(key_pem, password=None)
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as error:
        os.unlink(tmp)
        raise CAError(f"cannot write {path}: {error.strerror or error}") from None
