"""SMS through Twilio's Programmable Messaging API, with the official ``twilio`` SDK.

One message is one ``POST .../Messages.json``; ``send`` goes through the batch
in order, drawing one token per message from the sender's shared rate limit
(the From number or the Messaging Service), so every worker together stays
within what the carrier allows the sender.

Seam for tests and benchmarks: ``TwilioConfig.api_base_url``. The SDK builds
``https://api.twilio.com/...`` URLs itself; the supported way to change where
they go is the ``http_client`` argument of ``twilio.rest.Client`` (Twilio's
"custom HTTP client" guide). ``_RebasingHttpClient`` is the SDK's own
``TwilioHttpClient`` (one ``requests`` session, so connections are reused)
that swaps the scheme and host before sending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from channels.base import ChannelError, ErrorKind, OutgoingMessage, SendResult
from channels.ratelimit import RateLimiter, RateLimiterUnavailable
from channels.sms_encoding import count_segments, normalize_for_gsm

# Twilio error codes (https://www.twilio.com/docs/api/errors) that need more than
# "4xx is permanent, 5xx is transient".
OPTED_OUT_CODES = frozenset({21610})  # the recipient replied STOP to this sender
MISCONFIGURED_CODES = frozenset(
    {
        20003,  # authentication failed: wrong Account SID or Auth Token
        21212,  # the From number is not valid
        21606,  # the From number is not an SMS-capable number of this account
    }
)
TRANSIENT_CODES = frozenset({20429})  # too many requests
MISCONFIGURED_STATUSES = frozenset({401, 403})
_SDK_CREATE_PREFIX = "Unable to create record: "


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str = field(repr=False)
    status_callback_url: str | None  # our status-callback endpoint; the message id is appended
    from_number: str | None = None  # exactly one of from_number and messaging_service_sid
    messaging_service_sid: str | None = None
    api_base_url: str | None = None  # None: Twilio itself; a fake's URL in tests and benchmarks
    timeout: float = 10.0  # seconds for one API request
    rate_limit_wait: float = 30.0  # how long one message may wait for its sender's token
    normalize_gsm: bool = True  # replace look-alike characters that would force UCS-2
    name: str = "twilio"
    max_batch: int = 100

    def __post_init__(self) -> None:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError(
                "TwilioConfig needs exactly one of from_number and messaging_service_sid"
            )

    @property
    def sender(self) -> str:
        """The rate-limit key: whoever the carrier counts the messages against."""
        return self.messaging_service_sid or self.from_number or ""


@dataclass(frozen=True)
class TwilioMessageRequest:
    """The parameters of one ``client.messages.create`` call, plus what we worked out."""

    message_id: str
    to: str
    body: str
    status_callback: str | None
    from_: str | None
    messaging_service_sid: str | None
    encoding: str
    segments: int

    def create_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"to": self.to, "body": self.body}
        if self.from_ is not None:
            kwargs["from_"] = self.from_
        if self.messaging_service_sid is not None:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        if self.status_callback is not None:
            kwargs["status_callback"] = self.status_callback
        return kwargs


class _RebasingHttpClient(TwilioHttpClient):
    """``TwilioHttpClient`` sending to ``base_url`` instead of the host the SDK chose."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._base = urlsplit(base_url)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        rebased = urlunsplit(
            (self._base.scheme, self._base.netloc, parts.path, parts.query, parts.fragment)
        )
        return super().request(method, rebased, *args, **kwargs)


def status_callback_for(base_url: str, message_id: str) -> str:
    """Our status-callback URL carrying the message id, so a callback finds its message."""
    separator = "&" if urlsplit(base_url).query else ("" if base_url.endswith("?") else "?")
    return f"{base_url}{separator}{urlencode({'pulse_message_id': message_id})}"


def classify_twilio_error(status: int, code: int | None, text: str) -> ChannelError:
    """Map an error answer of the Messages API to what the dispatcher should do."""
    code_text = str(code if code is not None else status)
    if code in OPTED_OUT_CODES:
        kind = ErrorKind.OPTED_OUT
    elif code in MISCONFIGURED_CODES or status in MISCONFIGURED_STATUSES:
        kind = ErrorKind.MISCONFIGURED
    elif code in TRANSIENT_CODES or status == 429 or status >= 500:
        kind = ErrorKind.TRANSIENT
    else:
        kind = ErrorKind.PERMANENT
    return ChannelError(kind=kind, code=code_text, text=text)


class TwilioSmsChannel:
    """The ``Channel`` for SMS through Twilio."""

    medium = "sms"

    def __init__(self, config: TwilioConfig, *, rate_limiter: RateLimiter) -> None:
        self.config = config
        self.name = config.name
        self.max_batch = config.max_batch
        self._rate_limiter = rate_limiter
        http_client = (
            _RebasingHttpClient(config.api_base_url, config.timeout)
            if config.api_base_url
            else TwilioHttpClient(timeout=config.timeout)
        )
        self._http = http_client
        self._client = Client(config.account_sid, config.auth_token, http_client=http_client)
        # The SDK would take an edge or region from TWILIO_EDGE / TWILIO_REGION;
        # configuration comes only from our arguments.
        self._client.edge = None
        self._client.region = None
        # Resolved now: the SDK imports its resource modules on first use, and that
        # pause between taking a rate-limit token and sending would bunch messages.
        self._messages = self._client.messages

    def build_request(self, message: OutgoingMessage) -> TwilioMessageRequest:
        filled = message.materialize()
        body = normalize_for_gsm(filled.text) if self.config.normalize_gsm else filled.text
        encoding = count_segments(body)
        callback_base = self.config.status_callback_url
        return TwilioMessageRequest(
            message_id=message.message_id,
            to=filled.to,
            body=body,
            status_callback=(
                status_callback_for(callback_base, message.message_id) if callback_base else None
            ),
            from_=self.config.from_number,
            messaging_service_sid=self.config.messaging_service_sid,
            encoding=encoding.encoding,
            segments=encoding.segments,
        )

    def build_requests(self, messages: Sequence[OutgoingMessage]) -> list[Any]:
        return [self.build_request(message) for message in messages]

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """One API request per message, in order, each after a token for the sender.

        Never raises for a Twilio, network or rate-limiter error, and never
        retries. A ``read_timeout``, ``connection_error`` or ``http_error``
        result means the request may have reached Twilio: the outcome is
        unknown. Every other error means the message was not sent.
        """
        return [self._send_one(request) for request in self.build_requests(messages)]

    def _send_one(self, request: TwilioMessageRequest) -> SendResult:
        def result(provider_id: str | None = None, error: ChannelError | None = None) -> SendResult:
            return SendResult(
                message_id=request.message_id,
                provider_message_id=provider_id,
                error=error,
                segments=request.segments,
                encoding=request.encoding,
            )

        try:
            got_slot = self._rate_limiter.acquire(self.config.sender, self.config.rate_limit_wait)
        except RateLimiterUnavailable as exc:
            return result(
                error=ChannelError(
                    ErrorKind.TRANSIENT, "rate_limiter_unavailable", f"{exc}; not sent"
                )
            )
        if not got_slot:
            return result(
                error=ChannelError(
                    kind=ErrorKind.TRANSIENT,
                    code="rate_limit_wait",
                    text=f"no send slot for {self.config.sender} within "
                    f"{self.config.rate_limit_wait:g}s; not sent",
                    retry_after=self.config.rate_limit_wait,
                )
            )
        try:
            created = self._messages.create(**request.create_kwargs())
        except TwilioRestException as exc:
            # The SDK prefixes Twilio's own message with its own words; keep Twilio's.
            text = str(exc.msg).removeprefix(_SDK_CREATE_PREFIX)
            return result(error=classify_twilio_error(exc.status, exc.code, text))
        except TwilioServiceException as exc:
            text = exc.detail or exc.title
            return result(error=classify_twilio_error(exc.status, exc.code, text))
        except requests.RequestException as exc:
            return result(error=_network_error(exc, self.config.timeout))
        return result(provider_id=created.sid)

    def close(self) -> None:
        if self._http.session is not None:
            # requests re-opens connections on the next request, so the adapter stays usable.
            self._http.session.close()


def _network_error(exc: requests.RequestException, timeout: float) -> ChannelError:
    if isinstance(exc, requests.ConnectTimeout):
        code, text = "connect_timeout", "could not connect to Twilio; not sent"
    elif isinstance(exc, requests.Timeout):
        code, text = "read_timeout", f"no answer from Twilio within {timeout:g}s; outcome unknown"
    elif isinstance(exc, requests.ConnectionError) and _never_connected(exc):
        code, text = "connect_error", f"could not connect to Twilio ({exc}); not sent"
    elif isinstance(exc, requests.ConnectionError):
        code, text = "connection_error", f"connection to Twilio failed ({exc}); outcome unknown"
    else:
        code, text = "http_error", f"request to Twilio failed ({exc}); outcome unknown"
    maybe_sent = code in ("read_timeout", "connection_error", "http_error")  # the request may have reached Twilio
    return ChannelError(kind=ErrorKind.TRANSIENT, code=code, text=text, maybe_sent=maybe_sent)


def _never_connected(exc: requests.ConnectionError) -> bool:
    """Whether the connection failed before the request could be written (refused, DNS)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)
