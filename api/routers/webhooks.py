"""Provider webhooks: SMS replies, Twilio status callbacks, SendGrid's Event Webhook.

Every request is verified before anything in it is read: Twilio's
``X-Twilio-Signature`` (HMAC of the URL and the form, with the SDK's
``RequestValidator``) and SendGrid's signed Event Webhook (ECDSA P-256 over
timestamp + raw body, with the SDK's ``EventWebhook``). Signatures are checked
against ``PULSE_PUBLIC_URL``, the address the providers were given, never the
request's Host header (a proxy in between changes that). A bad or missing
signature is 403. Each endpoint commits before it answers, so a 2xx means the
answer or event is stored; a provider that retries changes nothing.
"""

from __future__ import annotations

import binascii
import json
import time
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import JSONResponse, Response
from sendgrid.helpers.eventwebhook import EventWebhook, EventWebhookHeader
from twilio.request_validator import RequestValidator

from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError, error_responses
from campaigns.events.service import events_waiting
from campaigns.people.fields import FieldError
from dispatcher.answers.answering import kick_from_loop
from dispatcher.answers.inbound_sms import InboundSmsMessage, receive_sms
from dispatcher.answers.provider_events import (
    apply_pending_events,
    receive_sendgrid_events,
    receive_twilio_status,
)
from dispatcher.runtime.settings import Settings

router = APIRouter(responses=error_responses(400, 403), prefix="/webhooks", tags=["webhooks"])

TWILIO_SIGNATURE = "X-Twilio-Signature"
# SendGrid signs the moment it posts, and signs each retry afresh; a timestamp
# further than this from now (either way) is a replay or a badly wrong clock.
# Wall time, not runtime.clock: freshness compares our real clock with SendGrid's,
# and the database clock that tests and demos move is neither.
SENDGRID_TOLERANCE_SECONDS = 300


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


class FormParams(dict[str, list[str]]):
    """A form as Twilio posted it, every value of a repeated key kept (the validator wants them all)."""

    @classmethod
    def parse(cls, body: bytes) -> FormParams:
        params = cls()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "invalid_request", "the form body is not UTF-8") from None
        for key, value in parse_qsl(text, keep_blank_values=True):
            params.setdefault(key, []).append(value)
        return params

    def getlist(self, key: str) -> list[str]:
        return self.get(key, [])

    def first(self, key: str, max_length: int = 2000) -> str | None:
        """The first value, without NUL characters (no column stores them); ``FieldError`` past ``max_length``."""
        values = self.get(key)
        if not values:
            return None
        value = values[0].replace("\x00", "")
        if len(value) > max_length:
            raise FieldError(key, f"is longer than {max_length} characters")
        return value

    def required(self, key: str, max_length: int = 64) -> str:
        value = self.first(key, max_length)
        if not value:
            raise FieldError(key, "is required in a Twilio webhook")
        return value


def public_url_of(request: Request, settings: Settings) -> str:
    """The URL the provider called, as configured: public base + path + the exact query string."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    return settings.public_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


def verify_twilio(request: Request, body: bytes, settings: Settings) -> FormParams:
    """The posted form, if Twilio signed it with our Auth Token; 403 otherwise."""
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    if not token:
        raise ApiError(403, "invalid_signature", "Twilio webhooks are refused until PULSE_TWILIO_AUTH_TOKEN is set")
    signature = request.headers.get(TWILIO_SIGNATURE)
    if not signature:
        raise ApiError(403, "invalid_signature", f"missing {TWILIO_SIGNATURE} header")
    params = FormParams.parse(body)
    if not RequestValidator(token).validate(public_url_of(request, settings), params, signature):
        raise ApiError(403, "invalid_signature", f"{TWILIO_SIGNATURE} does not match this request (checked against PULSE_PUBLIC_URL)")
    return params


@lru_cache(maxsize=4)
def _sendgrid_key(public_key: str) -> EllipticCurvePublicKey:
    key = EventWebhook().convert_public_key_to_ecdsa(public_key.strip())
    if not isinstance(key, EllipticCurvePublicKey):
        raise TypeError("not an elliptic-curve key")
    return key


def verify_sendgrid(request: Request, body: bytes, settings: Settings, *, now: float | None = None) -> str:
    """The raw payload as text, if SendGrid signed it recently with the configured key; 403 otherwise."""
    if not settings.sendgrid_webhook_public_key:
        raise ApiError(403, "invalid_signature", "SendGrid events are refused until PULSE_SENDGRID_WEBHOOK_PUBLIC_KEY is set")
    try:
        key = _sendgrid_key(settings.sendgrid_webhook_public_key)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ApiError(403, "invalid_signature", "PULSE_SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid ECDSA public key (base64 DER)") from None
    signature = request.headers.get(EventWebhookHeader.SIGNATURE)
    timestamp = request.headers.get(EventWebhookHeader.TIMESTAMP)
    if not signature or not timestamp:
        raise ApiError(403, "invalid_signature", f"missing {EventWebhookHeader.SIGNATURE} or {EventWebhookHeader.TIMESTAMP} header")
    fresh = timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12  # not "²" nor 5,000 digits, which int() refuses
    if not fresh or abs((now if now is not None else time.time()) - int(timestamp)) > SENDGRID_TOLERANCE_SECONDS:
        raise ApiError(403, "invalid_signature", f"{EventWebhookHeader.TIMESTAMP} is not within {SENDGRID_TOLERANCE_SECONDS} seconds of now")
    try:
        payload = body.decode("utf-8")
        valid = EventWebhook().verify_signature(payload, signature, timestamp, public_key=key)
    except (UnicodeDecodeError, ValueError, binascii.Error, InvalidSignature):
        valid = False
    if not valid:
        raise ApiError(403, "invalid_signature", f"{EventWebhookHeader.SIGNATURE} does not match this payload")
    return payload


_TWIML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def twiml_reply(text: str | None) -> str:
    """The TwiML that answers ``text`` in the thread (none: an empty ``<Response />``).

    Byte for byte what the SDK's ``MessagingResponse`` writes (a test pins it), at a
    fraction of the CPU: an ElementTree per reply cost more than the string.
    """
    if not text:
        return f"{_TWIML_HEAD}<Response />"
    return f"{_TWIML_HEAD}<Response><Message>{escape(text)}</Message></Response>"


def _twiml(text: str | None) -> Response:
    return Response(twiml_reply(text), media_type="application/xml")


@router.post("/twilio/sms", summary="Twilio incoming-message webhook: SMS replies (answers TwiML)")
def twilio_sms(request: Request, body: RawBody, runtime: RuntimeDep, background: BackgroundTasks) -> Response:
    """The session is the route's own, opened once the signature is checked, not a dependency's:
    a sync dependency with ``yield`` costs two more hops to the thread pool per reply."""
    now = runtime.clock.now()  # before the session takes a connection
    params = verify_twilio(request, body, runtime.settings)
    sms = InboundSmsMessage(
        message_sid=params.required("MessageSid"), sender=params.required("From"), to=params.first("To", 64),
        body=params.first("Body", 5000) or "", opt_out_type=params.first("OptOutType", 40),
    )
    with runtime.sessions() as session:
        outcome = receive_sms(runtime, session, sms, now=now)
        session.commit()
    if outcome.response_id is not None:  # the task, the alert and webhooks follow on a worker, now rather than at the next tick
        background.add_task(kick_from_loop, runtime)
    return _twiml(outcome.reply)


@router.post("/twilio/status", status_code=204, summary="Twilio status callback: SMS delivery status")
def twilio_status(request: Request, body: RawBody, runtime: RuntimeDep, session: SessionDep, background: BackgroundTasks) -> Response:
    now = runtime.clock.now()
    params = verify_twilio(request, body, runtime.settings)
    receive_twilio_status(
        runtime, session, message_id=request.query_params.get("pulse_message_id"),
        message_sid=params.required("MessageSid"), status=params.first("MessageStatus", 40) or params.required("SmsStatus", 40),
        error_code=params.first("ErrorCode", 60), recipient=params.first("To", 64), now=now,
    )
    session.commit()
    background.add_task(apply_pending_events, runtime)
    return Response(status_code=204)


@router.post("/sendgrid/events", summary="SendGrid signed Event Webhook: delivery and engagement events")
def sendgrid_events(request: Request, body: RawBody, runtime: RuntimeDep, session: SessionDep, background: BackgroundTasks) -> JSONResponse:
    now = runtime.clock.now()
    payload = verify_sendgrid(request, body, runtime.settings)
    events = _event_list(payload)
    result = receive_sendgrid_events(runtime, session, events, now=now)
    waiting = events_waiting(session)
    session.commit()
    if waiting:  # events that came before their message's send was recorded: try them now rather than at the next tick
        background.add_task(apply_pending_events, runtime)
    return JSONResponse({"received": result.received, "new": result.new, "ignored": result.ignored})


def _event_list(payload: str) -> list[dict[str, Any]]:
    try:
        events = json.loads(payload)
    except ValueError:
        raise FieldError("body", "is not JSON; SendGrid posts a JSON array of events") from None
    except RecursionError:  # not SendGrid's: its events are flat objects
        raise FieldError("body", "is nested too deeply to be a batch of SendGrid events") from None
    if not isinstance(events, list):
        raise FieldError("body", "must be a JSON array of events")
    # One malformed event is that event's problem (ignored and counted), never the
    # batch's: SendGrid would otherwise post the whole batch again and again.
    return events
