"""This home's certificate authority for AWS host names, and the server's certificates from it.

Why: some AWS clients call AWS at a URL they build themselves, which no ``AWS_*`` variable
redirects (the SageMaker SDK asks STS at ``https://sts.REGION.amazonaws.com`` in
``get_execution_role()`` and ``default_bucket()``).  ``stepline env`` therefore also names the
server as ``HTTPS_PROXY``; the server answers ``CONNECT *.amazonaws.com:443`` by speaking TLS
itself, with a certificate for that host signed by this CA, and ``AWS_CA_BUNDLE`` makes
botocore trust it.  So such calls land here, and nothing reaches real AWS.

The CA is generated once per ``$STEPLINE_HOME`` (EC P-256): its key in
``secrets/aws-proxy-ca-key.pem`` (0600, in the folder the job sandbox hides), its certificate
in ``aws-proxy-ca.pem``.  It is name-constrained to ``amazonaws.com`` and ``api.aws``: a
client that trusts it (or a stolen key) still cannot vouch for any other name.  Host
certificates live in memory only, one per name, issued on first use.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import ssl
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stepline import config
from stepline.awsapi._base import write_file

#: DNS suffixes whose TLS the server terminates (every AWS service endpoint is under one).
AWS_SUFFIXES = ("amazonaws.com", "api.aws")
CA_FILE = "aws-proxy-ca.pem"
CA_KEY_FILE = "aws-proxy-ca-key.pem"
#: Host certificates are reissued after this long (they are valid for twice as long).
HOST_CERT_REFRESH = 7 * 24 * 3600
#: At most this many host certificates are kept (a client naming endless hosts costs nothing).
MAX_HOST_CONTEXTS = 256
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def is_aws_host(host: str) -> bool:
    """Whether ``host`` is an AWS endpoint name (the CA may vouch for it)."""
    name = host.lower().rstrip(".")
    return any(name == s or name.endswith("." + s) for s in AWS_SUFFIXES)


def valid_host_name(host: str) -> bool:
    """A DNS name of letters, digits and hyphens (no IP literal, no wildcard, <= 253)."""
    name = host.lower().rstrip(".")
    if not name or len(name) > 253:
        return False
    try:
        ipaddress.ip_address(name)
        return False
    except ValueError:
        pass
    return all(_LABEL.fullmatch(label) for label in name.split("."))


def ca_cert_path() -> Path:
    """Where the CA certificate is (``AWS_CA_BUNDLE`` names it); created if missing."""
    ensure_ca()
    return config.home() / CA_FILE


def _secrets_dir() -> Path:
    path = config.home() / "secrets"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _write_new(path: Path, data: bytes, mode: int) -> bool:
    """Create ``path`` with ``data`` atomically unless it exists; whether this call made it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".new-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        try:
            os.link(tmp, path)  # fails if another process won: theirs is kept
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def ensure_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """This home's CA key and certificate, generated on first use (race-free)."""
    key_path = _secrets_dir() / CA_KEY_FILE
    cert_path = config.home() / CA_FILE
    if not key_path.exists():
        fresh = ec.generate_private_key(ec.SECP256R1())
        pem = fresh.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        if _write_new(key_path, pem, 0o600):
            cert_path.unlink(missing_ok=True)  # a certificate of a key that is gone
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise config.ConfigError(f"{key_path}: not an EC private key")
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.public_key() == key.public_key():
            return key, cert
    except (OSError, ValueError):
        pass
    cert = _ca_certificate(key)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    if not _write_new(cert_path, pem, 0o644):
        existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if existing.public_key() == key.public_key():
            return key, existing
        write_file(cert_path, pem, 0o644)  # a stale certificate of an older key
    return key, cert


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "stepline"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"stepline AWS CA ({config.home()})"[:64]),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(s) for s in AWS_SUFFIXES],
                excluded_subtrees=None,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )


class HostContexts:
    """Server-side TLS contexts, one per AWS host name, issued by this home's CA on demand.

    Thread-safe (issuing runs on the gateway's worker threads); the leaf key is one per
    process, each certificate names exactly one host."""

    def __init__(self) -> None:
        self._ca_key, self._ca_cert = ensure_ca()
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._contexts: OrderedDict[str, tuple[float, ssl.SSLContext]] = OrderedDict()
        self._lock = threading.Lock()

    def context(self, host: str) -> ssl.SSLContext:
        """The TLS context that presents a certificate for ``host`` (an AWS name)."""
        name = host.lower().rstrip(".")
        if not (valid_host_name(name) and is_aws_host(name)):
            raise ValueError(f"{host!r} is not an AWS host name")
        with self._lock:
            entry = self._contexts.get(name)
            if entry is not None and time.time() - entry[0] < HOST_CERT_REFRESH:
                self._contexts.move_to_end(name)
                return entry[1]
        ctx = self._issue(name)
        with self._lock:
            self._contexts[name] = (time.time(), ctx)
            self._contexts.move_to_end(name)
            while len(self._contexts) > MAX_HOST_CONTEXTS:
                self._contexts.popitem(last=False)
        return ctx

    def _issue(self, name: str) -> ssl.SSLContext:
        now = datetime.datetime.now(datetime.UTC)
        ca_ski = self._ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64])]))
            .issuer_name(self._ca_cert.subject)
            .public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(seconds=2 * HOST_CERT_REFRESH))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
                critical=False,
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM) + self._leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        # The ssl module loads keys from files only: a 0600 file in the secrets folder,
        # removed at once.
        fd, tmp = tempfile.mkstemp(dir=_secrets_dir(), prefix=".leaf-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            ctx.load_cert_chain(tmp)
        finally:
            os.unlink(tmp)
        return ctx
