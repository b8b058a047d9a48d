"""Local test certificate authority for the sandbox: CA, loopback server certificate, client certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_log = logging.getLogger("lgc.sandbox")

CA_COMMON_NAME = "TEST AC LGC SANDBOX"
"""Common name of the sandbox CA; "TEST" like the ANS test hierarchies, so nobody mistakes it."""

_ORGANIZATION = "LGC sandbox (TEST)"
_CA_VALIDITY = dt.timedelta(days=3650)
_LEAF_VALIDITY = dt.timedelta(days=825)
# Regenerate a leaf a little before it expires so a long test session never crosses the boundary.
_RENEW_MARGIN = dt.timedelta(days=1)
# Tolerate a workstation clock slightly behind the one that issued the certificate.
_BACKDATE = dt.timedelta(days=1)

_CA_CERT = "ca.cert.pem"
_CA_KEY = "ca.key.pem"
_SERVER_CERT = "server.cert.pem"
_SERVER_KEY = "server.key.pem"
_CLIENTS_DIR = "clients"


@dataclass(frozen=True, slots=True)
class TestPki:
    """A test CA on disk and the loopback server certificate it signed.

    Create or reuse one with :meth:`TestPki.ensure`; the files are plain PEM so ``openssl``,
    ``curl --cacert`` and httpx read them directly.
    """

    __test__ = False  # a product class whose name starts with "Test": not a pytest test class

    directory: Path
    ca_cert_path: Path
    ca_key_path: Path
    server_cert_path: Path
    server_key_path: Path

    @classmethod
    def ensure(cls, directory: Path) -> TestPki:
        """Create the test PKI in ``directory`` or reuse the one already there.

        The CA is regenerated only when missing, unreadable or expired (10-year validity); the server
        certificate (SAN ``DNS:localhost``, ``IP:127.0.0.1``) when missing, expired or signed by another CA.

        Args:
            directory: Where the PEM files live, typically ``<data_dir>/sandbox-pki``. Created (0700)
                if needed.

        Returns:
            The PKI, with paths to its files.
        """
        directory.mkdir(parents=True, exist_ok=True)
        _restrict_dir(directory)
        pki = cls(
            directory=directory,
            ca_cert_path=directory / _CA_CERT,
            ca_key_path=directory / _CA_KEY,
            server_cert_path=directory / _SERVER_CERT,
            server_key_path=directory / _SERVER_KEY,
        )
        ca_cert, ca_key = pki._ensure_ca()
        pki._ensure_leaf(
            pki.server_cert_path,
            pki.server_key_path,
            ca_cert,
            ca_key,
            common_name="localhost",
            server=True,
            organization=_ORGANIZATION,
        )
        return pki

    def issue_client_cert(self, common_name: str, *, organization: str | None = None) -> tuple[Path, Path]:
        """Issue (or reuse) a client-authentication certificate signed by the test CA.

        For instance the "organisation" certificate of the INSi mutual-TLS endpoint, CN ``INSI-AUTO``.

        Args:
            common_name: Subject CN of the certificate.
            organization: Subject O; defaults to the sandbox organisation name.

        Returns:
            ``(cert_path, key_path)``, PEM files, in the order httpx and ``ssl.load_cert_chain`` take.
        """
        if not common_name.strip():
            raise ValueError("common_name must not be empty")
        ca_cert, ca_key = self._ensure_ca()
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", common_name.strip())
        if organization is not None:
            stem += "__" + re.sub(r"[^A-Za-z0-9._-]+", "_", organization.strip())
        clients = self.directory / _CLIENTS_DIR
        clients.mkdir(exist_ok=True)
        _restrict_dir(clients)
        cert_path = clients / f"{stem}.cert.pem"
        key_path = clients / f"{stem}.key.pem"
        self._ensure_leaf(
            cert_path,
            key_path,
            ca_cert,
            ca_key,
            common_name=common_name,
            server=False,
            organization=organization if organization is not None else _ORGANIZATION,
        )
        return cert_path, key_path

    # -- internals -------------------------------------------------------------------------------

    def _ensure_ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        loaded = _load_pair(self.ca_cert_path, self.ca_key_path)
        if loaded is not None and _still_valid(loaded[0]):
            return loaded
        _log.info("Creating the sandbox test CA in %s", self.directory)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            ]
        )
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _CA_VALIDITY)
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
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256())
        )
        # Key first: a reader that finds the certificate must also find its key.
        _write_key(self.ca_key_path, key)
        _write_atomic(self.ca_cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        # Leaves signed by a previous CA are now useless; _ensure_leaf notices and reissues them.
        return cert, key

    def _ensure_leaf(
        self,
        cert_path: Path,
        key_path: Path,
        ca_cert: x509.Certificate,
        ca_key: ec.EllipticCurvePrivateKey,
        *,
        common_name: str,
        server: bool,
        organization: str,
    ) -> None:
        loaded = _load_pair(cert_path, key_path)
        if loaded is not None and _still_valid(loaded[0]) and _signed_by(loaded[0], ca_cert):
            return
        _log.info("Issuing sandbox certificate CN=%s in %s", common_name, cert_path.parent)
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                    ]
                )
            )
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(min(now + _LEAF_VALIDITY, ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=server,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        _write_key(key_path, key)
        _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _still_valid(cert: x509.Certificate) -> bool:
    now = _now()
    return cert.not_valid_before_utc <= now and now + _RENEW_MARGIN < cert.not_valid_after_utc


def _signed_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    if cert.issuer != ca_cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """Load a certificate and its EC key, or None when missing, unreadable or not matching."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if cert.public_key() != key.public_key():
        return None
    return cert, key


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomic(path, pem, 0o600)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write through a temporary file created with ``mode`` then renamed, so readers never see half a file."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600 already; chmod widens it for certificates only.
        os.chmod(tmp_name, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _restrict_dir(directory: Path) -> None:
    try:
        os.chmod(directory, 0o700)
    except OSError:  # not the owner (shared CI directory): the key files are 0600 anyway
        _log.debug("Could not restrict permissions of %s", directory)
