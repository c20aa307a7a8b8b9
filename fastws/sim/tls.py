"""Self-signed TLS for the simulator: a throw-away CA and a loopback server certificate.

Real Binance is only reachable over TLS, so tests should exercise ``wss://`` too. The CA's PEM
file path is exposed (:attr:`TLSFiles.ca_file`) so clients can verify the server instead of
switching verification off.
"""
from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Optional

__all__ = ["TLSFiles", "generate_tls", "server_context", "client_context"]


@dataclass(frozen=True)
class TLSFiles:
    """Paths of the PEM files: CA certificate, server certificate (chain) and key."""

    ca_file: str
    cert_file: str
    key_file: str


def generate_tls(directory: Optional[str] = None,
                 hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")) -> TLSFiles:
    """Create a CA and a server certificate for ``hosts`` (valid for 2 days) in ``directory``.

    Uses ECDSA P-256 keys, which ``cryptography`` generates in a few milliseconds.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = directory or tempfile.mkdtemp(prefix="fastws-sim-tls-")
    now = _dt.datetime.now(_dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fastws simulator test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = TLSFiles(os.path.join(directory, "ca.pem"), os.path.join(directory, "server.pem"),
                     os.path.join(directory, "server.key"))
    with open(files.ca_file, "wb") as f:
        f.write(ca_cert.public_bytes(pem))
    with open(files.cert_file, "wb") as f:
        f.write(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    with open(files.key_file, "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(files.key_file, 0o600)
    return files


def server_context(files: TLSFiles) -> ssl.SSLContext:
    """Server-side SSL context for the simulator."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(files.cert_file, files.key_file)
    return ctx


def client_context(ca_file: str) -> ssl.SSLContext:
    """Client-side SSL context that trusts only the simulator's CA (hostname checked)."""
    return ssl.create_default_context(cafile=ca_file)
