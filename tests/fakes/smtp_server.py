"""A real SMTP server for tests (aiosmtpd), with the knobs the email tests need.

It records every accepted message with the TCP connection that carried it,
counts connections, and can refuse recipients (``reject_rcpt``), answer DATA
with an error (``data_reply``), drop the connection at a given message
(``drop_at_message``), require a login and speak STARTTLS or implicit TLS with
a throwaway certificate authority made by ``make_test_certificates``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path  # trust this (SMTPConfig.ca_file)
    cert_file: Path  # the server's chain, for localhost and 127.0.0.1
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_test_certificates(directory: Path) -> TlsFiles:
    """A certificate authority and a server certificate it signed, valid for a day."""
    now = dt.datetime.now(dt.UTC)

    def build(subject: str, issuer: x509.Name | None, key: Any, signer: Any) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )
        if issuer is None:  # the authority
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
            usage = {"key_cert_sign": True, "crl_sign": True, "digital_signature": False}
        else:
            builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
            )
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                False,
            )
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False
            )
            usage = {"key_cert_sign": False, "crl_sign": False, "digital_signature": True}
        builder = builder.add_extension(
            x509.KeyUsage(
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False, **usage,
            ),
            critical=True,
        )  # fmt: skip
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("Pulse test CA", None, ca_key, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = build("localhost", ca.subject, server_key, ca_key)
    pem = serialization.Encoding.PEM
    paths = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "key.pem")
    paths.ca_file.write_bytes(ca.public_bytes(pem))
    paths.cert_file.write_bytes(server.public_bytes(pem) + ca.public_bytes(pem))
    paths.key_file.write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    connection_id: int
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.raw)


@dataclass
class RecordingHandler:
    reject_rcpt: dict[str, str] = field(default_factory=dict)  # address -> "550 5.1.1 ..."
    data_reply: dict[str, str] = field(default_factory=dict)  # recipient -> "451 4.3.0 ..."
    drop_at_message: int | None = None  # close the connection at this DATA (1-based), no reply
    received: list[ReceivedMail] = field(default_factory=list)
    _data_seen: int = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        reply = self.reject_rcpt.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._data_seen += 1
        if self._data_seen == self.drop_at_message:
            server.transport.close()
            return "250 never heard"
        for rcpt in envelope.rcpt_tos:
            if rcpt.lower() in self.data_reply:
                return self.data_reply[rcpt.lower()]
        login = session.auth_data.login.decode() if session.authenticated else None
        self.received.append(
            ReceivedMail(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content or envelope.content,
                server.pulse_connection_id,
                server.transport.get_extra_info("ssl_object") is not None,  # STARTTLS or SMTPS
                login,
            )
        )
        return f"250 2.0.0 Ok: queued as Q{len(self.received)}"


class _CountingController(Controller):
    """Numbers each TCP connection; aiosmtpd makes one SMTP instance per connection."""

    connections = 0

    def factory(self) -> SMTP:
        self.connections += 1
        smtp = SMTP(self.handler, **self.SMTP_kwargs)
        smtp.pulse_connection_id = self.connections  # type: ignore[attr-defined]
        return smtp


class SMTPTestServer:
    def __init__(
        self,
        *,
        certificates: TlsFiles | None = None,
        starttls: bool = False,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.handler = RecordingHandler()
        self.host = "127.0.0.1"
        self.port = _free_port()
        options: dict[str, Any] = {}
        if starttls or implicit_tls:
            assert certificates is not None, "TLS needs certificates"
        if starttls:
            options.update(tls_context=certificates.server_context(), require_starttls=True)  # type: ignore[union-attr]
        if credentials is not None:
            options.update(
                authenticator=_Authenticator(*credentials),
                auth_required=True,
                auth_require_tls=starttls or implicit_tls,
            )
        context = certificates.server_context() if implicit_tls and certificates else None
        self._controller = _CountingController(
            self.handler, hostname=self.host, port=self.port, ssl_context=context, **options
        )

    def start(self) -> SMTPTestServer:
        self._controller.start()
        self._controller.connections = 0  # start() opened one to check the server is up
        return self

    @property
    def connections(self) -> int:
        return self._controller.connections

    @property
    def received(self) -> list[ReceivedMail]:
        return list(self.handler.received)

    def stop(self) -> None:
        self._controller.stop()


@dataclass(frozen=True)
class _Authenticator:
    username: str
    password: str

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        given = (
            (data.login.decode(), data.password.decode())
            if isinstance(data, LoginPassword)
            else None
        )
        ok = given == (self.username, self.password)
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


def _free_port() -> int:
    # aiosmtpd's start() probes the port it was given, so it cannot take port 0.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
