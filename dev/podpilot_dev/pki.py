"""A throw-away PKI for the dev cluster: one CA, serving and client certificates, SA keys."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)
ADMIN_GROUP = "system:masters"


@dataclass(frozen=True)
class Pki:
    """Paths of every PEM file the components need."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    def cert(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.directory / "sa.pub"


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    return x509.Name(attributes)


def _issue(
    pki: Pki,
    name: str,
    common_name: str,
    *,
    organizations: Sequence[str] = (),
    ip_sans: Sequence[str] = (),
    dns_sans: Sequence[str] = (),
    server: bool = False,
    client: bool = False,
) -> None:
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_sans]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_sans]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    certificate = builder.sign(ca_key, hashes.SHA256())
    pki.cert(name).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.key(name), key)


def create(directory: Path, extra_server_ips: Sequence[str] = ()) -> Pki:
    """Write a CA and every certificate the dev cluster uses into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = _name("podpilot-dev-cluster-ca")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
        .sign(ca_key, hashes.SHA256())
    )
    pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.ca_key, ca_key)

    server_ips = ["127.0.0.1", "::1", *extra_server_ips]
    server_names = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    _issue(
        pki, "apiserver", "kube-apiserver", ip_sans=server_ips, dns_sans=server_names, server=True
    )
    _issue(
        pki,
        "serving",
        "podpilot-dev-serving",
        ip_sans=server_ips,
        dns_sans=["localhost"],
        server=True,
    )
    _issue(pki, "admin", "podpilot-dev-admin", organizations=[ADMIN_GROUP], client=True)
    _issue(pki, "front-proxy-client", "front-proxy-client", client=True)

    service_account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(pki.service_account_key, service_account_key)
    pki.service_account_public_key.write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki


def issue_client(pki: Pki, name: str, user: str, groups: Sequence[str] = ()) -> None:
    """Issue a client certificate for ``user`` (e.g. a kubelet: system:node:NAME)."""
    _issue(pki, name, user, organizations=groups, client=True)


def issue_kubelet_serving(pki: Pki, name: str, node_name: str, address: str) -> None:
    """Issue a kubelet's serving certificate from the cluster CA, for its node name and the
    address clients dial (the node's InternalIP), as a cluster with kubelet serving
    certificates signed by its CA has them; without one a kubelet signs its own."""
    _issue(
        pki,
        name,
        f"system:node:{node_name}",
        organizations=["system:nodes"],
        ip_sans=[address],
        dns_sans=[node_name],
        server=True,
    )
