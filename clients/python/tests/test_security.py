"""TLS and bearer tokens as the CLI's ``--tls-ca`` / ``--token-file``:
a ``joust up`` serving TLS (a throwaway CA) with static tokens, called
with and without a CA and a token, and with too small a role."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import joust_up
from joust import JoustError, RegistryClient, RouterClient, Security

OPERATOR = "op-token-0123456789abcdef"
READER = "reader-token-0123456789abcdef"
SERVICE = "service-token-0123456789abcdef"


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _mkdir(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path


def _certificates(out: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate it signed for 127.0.0.1 and localhost."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "joust test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "joust up")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = out / "ca.pem", out / "server.pem", out / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return ca_path, cert_path, key_path


@pytest.fixture(scope="module")
def secure_up(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("secure")
    ca, cert, key = _certificates(out)
    tokens = out / "tokens"
    tokens.write_text(
        f"{SERVICE} joust-up reader,operator,predictor\n{OPERATOR} alice operator\n{READER} grafana reader\n"
    )
    service = out / "service.token"
    service.write_text(SERVICE + "\n")
    platform = joust_up.start(
        out / "data",
        extra=[
            "--tls-cert", str(cert), "--tls-key", str(key), "--tls-ca", str(ca),
            "--auth-tokens-file", str(tokens), "--token-file", str(service),
        ],
    )
    assert platform.registry.startswith("https://"), platform.registry
    yield platform, ca, out
    assert platform.stop() == 0


def test_a_token_over_tls_is_accepted_and_names_the_actor(secure_up) -> None:
    platform, ca, _ = secure_up
    with RegistryClient(platform.registry, security=Security(tls_ca=ca, token=OPERATOR), actor="mallory") as c:
        c.create_model("sec_model")
        [event] = c.list_events("sec_model")
    # With authentication on, the token's subject is the actor.
    assert (event.kind, event.actor) == ("model_created", "alice")


def test_a_token_file_works_like_the_cli_flag(secure_up) -> None:
    platform, ca, out = secure_up
    path = out / "reader.token"
    path.write_text(READER + "\n")
    with RegistryClient(platform.registry, security=Security(tls_ca=ca, token_file=path)) as c:
        assert isinstance(c.list_models(), list)
    with RouterClient(platform.router, security=Security(tls_ca=ca, token_file=path)) as r:
        assert r.list_routes().registry_connected


def test_no_token_is_unauthenticated_and_a_small_role_is_denied(secure_up) -> None:
    platform, ca, _ = secure_up
    with RegistryClient(platform.registry, security=Security(tls_ca=ca)) as c:
        with pytest.raises(JoustError) as e:
            c.list_models()
    assert e.value.code == grpc.StatusCode.UNAUTHENTICATED, e.value
    with RegistryClient(platform.registry, security=Security(tls_ca=ca, token=READER)) as c:
        with pytest.raises(JoustError) as e:
            c.create_model("sec_denied")
    assert e.value.code == grpc.StatusCode.PERMISSION_DENIED, e.value


def test_tls_needs_the_ca(secure_up) -> None:
    platform, _, out = secure_up
    with pytest.raises(ValueError, match="needs tls_ca"):
        RegistryClient(platform.registry, security=Security(token=OPERATOR))
    # A CA that did not sign the server's certificate: the handshake fails.
    other, _, _ = _certificates(_mkdir(out / "other"))
    with RegistryClient(platform.registry, security=Security(tls_ca=other, token=OPERATOR), timeout=5) as c:
        with pytest.raises(JoustError) as e:
            c.list_models()
    assert e.value.code == grpc.StatusCode.UNAVAILABLE, e.value



def test_security_options_are_checked_before_any_call(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="token and token_file: expected one of them, got both"):
        RegistryClient("127.0.0.1:1", security=Security(token="a" * 20, token_file=tmp_path / "t"))
    with pytest.raises(ValueError, match="tls_cert and tls_key: expected both or neither"):
        RegistryClient("127.0.0.1:1", security=Security(tls_ca=tmp_path / "ca", tls_cert=tmp_path / "c"))
    with pytest.raises(ValueError, match=r"tls_ca .*missing\.pem: cannot read it"):
        RegistryClient("https://127.0.0.1:1", security=Security(tls_ca=tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="token: expected visible ASCII"):
        RegistryClient("127.0.0.1:1", security=Security(token="has space"))
    with pytest.raises(ValueError, match="expected http://HOST:PORT"):
        RegistryClient("ftp://127.0.0.1:1")
