"""Mail over TLS against real TLS SMTP servers on loopback (aiosmtpd, certificates made here).

STARTTLS and implicit TLS (port 465 style) deliver with the plant's CA given by
PERFFLOW_SMTP_CA_FILE and the certificate checked; a certificate from another CA, or one
for another host name, fails the delivery naming the setting to fix, and the same action
is delivered once the setting is right (a failed notification is retried in its later
dispatch rounds, never lost)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from perf_orchestration.delivery import DeliveryError, EmailChannel, Message
from perf_orchestration.testing.smtp import SmtpReceiver
from resources.delivery import DeliveryResource

FAST = {"max_retries": 0, "backoff_seconds": 0.01, "timeout": 5}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(folder: Path, cn: str):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    path = folder / f"{cn}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def _server_cert(folder: Path, ca, names: list[str]) -> ssl.SSLContext:
    ca_key, ca_cert, _ = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    alt = [x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n)
           for n in names]
    cert = (x509.CertificateBuilder().subject_name(_name(names[0]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = folder / f"{names[0]}-cert.pem", folder / f"{names[0]}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def _tls_smtp(context: ssl.SSLContext, implicit: bool) -> SmtpReceiver:
    """The loopback SMTP server: TLS from the first byte, or STARTTLS required."""
    return SmtpReceiver(tls=context, implicit_tls=implicit)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    plant_ca, other_ca = _ca(folder, "plant-ca"), _ca(folder, "other-ca")
    return {"folder": folder, "ca_file": str(plant_ca[2]), "other_ca_file": str(other_ca[2]),
            "good": _server_cert(folder, plant_ca, ["127.0.0.1", "mail.plant.test"]),
            "untrusted": _server_cert(folder, other_ca, ["127.0.0.1"]),
            "wrong_host": _server_cert(folder, plant_ca, ["mail.other.test"])}


def _mail(key: str = "tls-1") -> Message:
    return Message(idempotency_key=key, recipient="qa@plant1.example.com",
                   recipient_name="QA", subject="首件合格率 below 92.5%", body="Check W3.",
                   data={})


def _channel(port: int, mode: str, ca_file: str | None) -> EmailChannel:
    return EmailChannel("127.0.0.1", port, "perfflow@plant1.example.com",
                        starttls=mode == "starttls", implicit_tls=mode == "implicit",
                        ca_file=ca_file, **FAST)


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_mail_over_tls_is_delivered_with_the_plants_ca(pki, mode):
    with _tls_smtp(pki["good"], implicit=mode == "implicit") as server:
        result = _channel(server.port, mode, pki["ca_file"]).send(_mail())
    assert result.status == "delivered", result.detail
    [mail] = server.messages
    assert mail["Idempotency-Key"] == "tls-1"


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_an_untrusted_certificate_fails_naming_the_ca_setting_then_is_delivered(pki, mode):
    with _tls_smtp(pki["untrusted"], implicit=mode == "implicit") as server:
        failed = _channel(server.port, mode, pki["ca_file"]).send(_mail())
        assert failed.status == "failed" and server.messages == []
        assert "not trusted" in failed.detail and "PERFFLOW_SMTP_CA_FILE" in failed.detail
        # without a CA file the system's CAs do not know a plant's own CA either
        plain = _channel(server.port, mode, None).send(_mail())
        assert "set PERFFLOW_SMTP_CA_FILE" in plain.detail
        # the operator points the setting at the CA that signed the server: the same
        # action (same key) goes out once
        fixed = _channel(server.port, mode, pki["other_ca_file"]).send(_mail())
    assert fixed.status == "delivered", fixed.detail
    assert [m["Idempotency-Key"] for m in server.messages] == ["tls-1"]


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_a_certificate_for_another_host_fails_naming_the_host_setting(pki, mode):
    with _tls_smtp(pki["wrong_host"], implicit=mode == "implicit") as server:
        result = _channel(server.port, mode, pki["ca_file"]).send(_mail())
    assert result.status == "failed" and server.messages == []
    assert "does not match the host '127.0.0.1'" in result.detail
    assert "PERFFLOW_SMTP_HOST" in result.detail


def test_implicit_tls_against_a_plain_server_and_plain_against_tls_fail_visibly(pki):
    with _tls_smtp(pki["good"], implicit=False) as server:  # plain until STARTTLS
        wrong = _channel(server.port, "implicit", pki["ca_file"]).send(_mail())
        refused = _channel(server.port, "none", pki["ca_file"]).send(_mail())
    assert wrong.status == "failed" and "PERFFLOW_SMTP_TLS" in wrong.detail
    assert refused.status == "failed" and server.messages == []


def test_the_resource_reads_the_tls_settings(monkeypatch, pki):
    monkeypatch.setenv("PERFFLOW_SMTP_TLS", "implicit")
    monkeypatch.setenv("PERFFLOW_SMTP_CA_FILE", pki["ca_file"])
    resource = DeliveryResource(webhook_url="http://127.0.0.1:9/hook", webhook_secret="s",
                                smtp_port=465)
    email = resource.channels()["email"]
    assert email.implicit_tls and not email.starttls and email.ca_file == pki["ca_file"]
    monkeypatch.setenv("PERFFLOW_SMTP_TLS", "ssl")
    with pytest.raises(DeliveryError, match="PERFFLOW_SMTP_TLS: expected one of none, "
                                            "starttls, implicit, got 'ssl'"):
        resource.channels()
    monkeypatch.setenv("PERFFLOW_SMTP_TLS", "starttls")
    monkeypatch.setenv("PERFFLOW_SMTP_CA_FILE", str(pki["folder"] / "missing.pem"))
    with pytest.raises(DeliveryError, match="PERFFLOW_SMTP_CA_FILE: no such file"):
        resource.channels()
