"""Email through any SMTP server, one connection per batch.

``send`` opens (or reuses) one connection, sends every message of the batch
over it, and keeps it for the next batch until ``close()``. A refused message
is reported and the batch goes on; a connection that drops mid-batch leaves
the rest of the batch TRANSIENT (never raised, never silently skipped).
"""

from __future__ import annotations

import dataclasses
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal

from channels.base import ChannelError, ErrorKind, OutgoingMessage, SendResult
from channels.email_headers import build_mime_message, message_id_header, mime_bytes, sender_domain

Security = Literal["starttls", "tls", "none"]


@dataclass(frozen=True, kw_only=True)
class SMTPConfig:
    host: str
    port: int = 587
    from_email: str
    from_name: str | None = None
    security: Security = "starttls"  # "tls" is implicit TLS (SMTPS, usually port 465)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0  # seconds, for each network operation
    ca_file: str | None = None  # a PEM bundle to trust instead of the system's CAs
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False)  # wins over ca_file
    envelope_from: str | None = None  # MAIL FROM (where bounces go); from_email if unset
    local_hostname: str | None = None  # what we say in EHLO; the machine's FQDN if unset

    def __post_init__(self) -> None:
        if self.security not in ("starttls", "tls", "none"):
            raise ValueError(f"security must be starttls, tls or none, not {self.security!r}")


class _ConnectionLost(Exception):
    """The connection is gone; what is left of the batch cannot be sent on it."""

    def __init__(self, error: ChannelError) -> None:
        super().__init__(error.describe())
        self.error = error


def _reply_text(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def classify_smtp_reply(code: int, text: bytes | str) -> ChannelError:
    """A refusal of one message: 5xx is final for it, 4xx may pass later."""
    kind = ErrorKind.PERMANENT if 500 <= code < 600 else ErrorKind.TRANSIENT
    return ChannelError(kind, str(code), _reply_text(text))


class SMTPChannel:
    """The ``smtp`` email adapter. Not thread-safe: one per worker."""

    name = "smtp"
    medium = "email"
    # Servers may cap messages per connection (Exchange Online, for one); a modest
    # batch keeps one connection's life short and a drop's fallout small.
    max_batch = 100

    def __init__(self, config: SMTPConfig) -> None:
        self.config = config
        self._connection: smtplib.SMTP | None = None

    def build_requests(self, messages: Sequence[OutgoingMessage]) -> list[EmailMessage]:
        """The MIME messages ``send`` would transmit; ones it would refuse are left out."""
        built = []
        for message in messages:
            try:
                built.append(build_mime_message(message, from_email=self.config.from_email, from_name=self.config.from_name))
            except ValueError:
                continue
        return built

    def _mime(self, message: OutgoingMessage) -> bytes:
        return mime_bytes(message, from_email=self.config.from_email, from_name=self.config.from_name)

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """One result per message, in order; never raises for a server's answer.

        The provider id is the Message-ID header we set. Connection and login
        problems apply to every message not yet sent: bad credentials or TLS
        are MISCONFIGURED, an unreachable or dropped server TRANSIENT.
        """
        results: list[SendResult] = []
        lost: ChannelError | None = None
        self._drop_if_stale()
        for message in messages:
            if lost is not None:
                results.append(SendResult(message.message_id, error=lost))
                continue
            try:
                mime = self._mime(message)
            except ValueError as exc:
                invalid = ChannelError(ErrorKind.PERMANENT, "invalid_message", str(exc))
                results.append(SendResult(message.message_id, error=invalid))
                continue
            error: ChannelError | None
            try:
                error = self._send_one(message, mime)
            except _ConnectionLost as exc:
                self._drop()
                lost = dataclasses.replace(exc.error, maybe_sent=False)  # the rest never left
                error = exc.error
            provider_id = None if error else message_id_header(message.message_id, sender_domain(self.config.from_email))
            results.append(SendResult(message.message_id, provider_id, error))
        return results

    def _send_one(self, message: OutgoingMessage, mime: bytes) -> ChannelError | None:
        connection = self._connect()
        sender = self.config.envelope_from or self.config.from_email
        try:
            connection.sendmail(sender, [message.to], mime)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return self._refused(code, text)
        except smtplib.SMTPSenderRefused as exc:
            if exc.smtp_code == 421:
                raise _ConnectionLost(classify_smtp_reply(exc.smtp_code, exc.smtp_error)) from exc
            if exc.smtp_code >= 500 and exc.smtp_code != 552:  # 552: this message is too big
                # The server will not take mail from our sender at all.
                reply = _reply_text(exc.smtp_error)
                return ChannelError(ErrorKind.MISCONFIGURED, str(exc.smtp_code), reply)
            return classify_smtp_reply(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPNotSupportedError as exc:
            # An internationalised address and a server without SMTPUTF8.
            return ChannelError(ErrorKind.PERMANENT, "smtputf8_unsupported", str(exc))
        except smtplib.SMTPResponseException as exc:  # SMTPDataError and the rest
            return self._refused(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # The message may or may not have been accepted before the drop.
            lost = f"connection lost: {exc or type(exc).__name__}"
            raise _ConnectionLost(
                ChannelError(ErrorKind.TRANSIENT, "connection_lost", lost, maybe_sent=True)
            ) from exc
        return None

    def _refused(self, code: int, text: bytes | str) -> ChannelError:
        error = classify_smtp_reply(code, text)
        if code == 421:  # "service not available, closing transmission channel"
            raise _ConnectionLost(error)
        return error

    # -- the connection ---------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        config = self.config
        try:
            connection: smtplib.SMTP
            if config.security == "tls":
                connection = smtplib.SMTP_SSL(
                    config.host,
                    config.port,
                    local_hostname=config.local_hostname,
                    timeout=config.timeout,
                    context=self._tls_context(),
                )
            else:
                connection = smtplib.SMTP(
                    config.host,
                    config.port,
                    local_hostname=config.local_hostname,
                    timeout=config.timeout,
                )
        except (smtplib.SMTPException, OSError) as exc:
            raise _ConnectionLost(self._connect_error(exc)) from exc
        try:
            connection.ehlo()
            if config.security == "starttls":
                connection.starttls(context=self._tls_context())
                connection.ehlo()
            if config.username:
                connection.login(config.username, config.password or "")
        except (smtplib.SMTPException, OSError) as exc:
            connection.close()
            raise _ConnectionLost(self._connect_error(exc)) from exc
        self._connection = connection
        return connection

    def _drop_if_stale(self) -> None:
        # A connection kept from the last batch may have been closed by the server
        # while idle; NOOP finds out before a message is at stake.
        if self._connection is None:
            return
        try:
            alive = self._connection.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            alive = False
        if not alive:
            self._drop()

    def _tls_context(self) -> ssl.SSLContext:
        if self.config.ssl_context is not None:
            return self.config.ssl_context
        return ssl.create_default_context(cafile=self.config.ca_file)

    @staticmethod
    def _connect_error(exc: BaseException) -> ChannelError:
        """Why no connection could be made; the same for every message left."""
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            text = _reply_text(exc.smtp_error)
            return ChannelError(
                ErrorKind.MISCONFIGURED, str(exc.smtp_code), f"login refused: {text}"
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):  # no STARTTLS or no AUTH offered
            return ChannelError(ErrorKind.MISCONFIGURED, "unsupported", str(exc))
        if isinstance(exc, ssl.SSLError):  # certificate not trusted, or TLS on a plain port
            return ChannelError(ErrorKind.MISCONFIGURED, "tls", str(exc))
        if isinstance(exc, smtplib.SMTPResponseException):
            kind = ErrorKind.MISCONFIGURED if exc.smtp_code >= 500 else ErrorKind.TRANSIENT
            return ChannelError(kind, str(exc.smtp_code), _reply_text(exc.smtp_error))
        return ChannelError(ErrorKind.TRANSIENT, "connection_error", str(exc) or type(exc).__name__)

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def close(self) -> None:
        """Say QUIT and close; the next ``send`` connects again."""
        if self._connection is not None:
            try:
                self._connection.quit()
            except (smtplib.SMTPException, OSError):
                pass  # already gone: nothing left to release
            finally:
                self._drop()
