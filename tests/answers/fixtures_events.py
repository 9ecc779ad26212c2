"""SMS replies and provider events: signed requests the way Twilio and SendGrid make them.

``tests/answers/conftest.py`` star-imports this module; only the fixtures in
``__all__`` travel that way. Test modules that need the webhook secrets import
``webhook_settings`` by name: it overrides ``settings`` in that module only.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from campaigns.people.models import Contact
from campaigns.programs import service
from campaigns.programs.models import Episode, Message
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.settings import Settings
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.backends import Backend
from tests.conftest import make_settings

__all__ = ["sendgrid_key"]

PUBLIC_URL = "https://pulse.test"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
TWILIO_NUMBER = "+15005550006"
_SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())  # ours, signing the way SendGrid does
_sids = itertools.count(1)


def sendgrid_public_key(key: ec.EllipticCurvePrivateKey = _SENDGRID_KEY) -> str:
    """What SendGrid's settings page shows: the base64 DER of the public key."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


@pytest.fixture(name="settings")
def webhook_settings(backend: Backend, tmp_path: Path) -> Settings:
    """The test settings with a Twilio Auth Token and a SendGrid verification key."""
    return make_settings(
        backend, tmp_path, twilio_auth_token=TWILIO_TOKEN, sendgrid_webhook_public_key=sendgrid_public_key(), public_url=PUBLIC_URL,
    )


@pytest.fixture
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return _SENDGRID_KEY


# -- Twilio ---------------------------------------------------------------------------


def message_sid() -> str:
    return f"SM{next(_sids):032x}"


def twilio_signature(url: str, params: Mapping[str, str], token: str = TWILIO_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def post_twilio(client: TestClient, path: str, params: Mapping[str, str], *, signature: str | None = None, sign_url: str | None = None) -> Response:
    """POST a form as Twilio does, signed over ``PUBLIC_URL + path`` unless told otherwise."""
    signature = signature or twilio_signature(sign_url or PUBLIC_URL + path, params)
    return client.post(path, data=dict(params), headers={"X-Twilio-Signature": signature})


def sms_params(sender: str, body: str, *, sid: str | None = None, **extra: str) -> dict[str, str]:
    """An incoming-message webhook's form, as Twilio sends it."""
    sid = sid or message_sid()
    return {
        "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
        "Body": body, "To": TWILIO_NUMBER, "NumSegments": "1", "MessageSid": sid, "AccountSid": "AC" + "0" * 32,
        "From": sender, "ApiVersion": "2010-04-01", **extra,
    }  # fmt: skip


def reply(client: TestClient, sender: str, body: str, **extra: str) -> str:
    """The customer texts ``body``; the text of our TwiML answer ("" when we say nothing)."""
    response = post_twilio(client, "/webhooks/twilio/sms", sms_params(sender, body, **extra))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return twiml_text(response.text)


def twiml_text(xml: str) -> str:
    from xml.etree import ElementTree

    root = ElementTree.fromstring(xml)
    return " ".join((m.findtext("Body") or m.text or "").strip() for m in root.iter("Message"))


def status_params(sid: str, status: str, *, to: str = "+14155550100", error_code: str | None = None) -> dict[str, str]:
    params = {
        "AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01", "MessageSid": sid, "SmsSid": sid,
        "MessageStatus": status, "SmsStatus": status, "From": TWILIO_NUMBER, "To": to,
    }  # fmt: skip
    if error_code:
        params["ErrorCode"] = error_code
    return params


def post_status(client: TestClient, message_id: int | str, sid: str, status: str, **kwargs: Any) -> Response:
    path = f"/webhooks/twilio/status?pulse_message_id={message_id}"
    return post_twilio(client, path, status_params(sid, status, **kwargs))


# -- SendGrid -------------------------------------------------------------------------


def sendgrid_headers(body: bytes, *, key: ec.EllipticCurvePrivateKey = _SENDGRID_KEY, timestamp: int | None = None) -> dict[str, str]:
    """SendGrid's two headers: ECDSA P-256 / SHA-256 over timestamp + raw body, base64 DER."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def post_events(client: TestClient, events: Sequence[Mapping[str, Any]], **kwargs: Any) -> Response:
    body = json.dumps(list(events)).encode()
    return client.post("/webhooks/sendgrid/events", content=body, headers=sendgrid_headers(body, **kwargs))


def sendgrid_event(message: Message, event: str, event_id: str, **extra: Any) -> dict[str, Any]:
    """One event as SendGrid reports it for one of our messages (custom args at the top level)."""
    return {
        "email": message.recipient, "timestamp": 1772443800, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": event, "category": [f"campaign-{message.campaign_id}"], "sg_event_id": event_id,
        "sg_message_id": f"{message.provider_message_id or 'x'}.filter0001.16648.5515E0B88.0",
        "pulse_campaign_id": str(message.campaign_id), "pulse_message_id": str(message.id), **extra,
    }  # fmt: skip


# -- Surveys with open SMS episodes ---------------------------------------------------------


def sms_survey(runtime: Runtime, phones: Sequence[str], *, kind: str = "nps", locale: str = "en", name: str = "SMS pulse", **contact_values: Any) -> int:
    """A launched SMS-only campaign whose invites went out to ``phones``; its id.

    The plan is invite, reminder on day 3 and close on day 14; the outbox channel
    "sends" the SMS, as in development.
    """
    with runtime.sessions() as session:
        existing = {c.phone: c for c in session.scalars(select(Contact).where(Contact.phone.in_(phones)))}
        contacts = [existing.get(p) or factories.contact(session, phone=p, locale=locale, **contact_values) for p in phones]
        session.commit()
    return _launch(runtime, [c.id for c in contacts], channel="sms", kind=kind, name=name)


def email_survey(runtime: Runtime, count: int, *, kind: str = "nps") -> int:
    """A launched email campaign whose invites went out (outbox) to ``count`` new contacts; its id."""
    with runtime.sessions() as session:
        ids = [factories.contact(session).id for _ in range(count)]
        session.commit()
    return _launch(runtime, ids, channel="email", kind=kind, name="Email pulse")


def _launch(runtime: Runtime, contact_ids: list[int], *, channel: str, kind: str, name: str) -> int:
    with runtime.sessions() as session:
        campaign = service.create_campaign(session, spec={
            "name": name, "survey": {"kind": kind}, "channels": [channel], "audience": {"contact_ids": contact_ids},
            "plan": [{"step": "invite", "offset_days": 0}, {"step": "reminder", "offset_days": 3}, {"step": "thank_you"}, {"step": "close", "offset_days": 14}],
        }, now=runtime.clock.now())
        service.launch(session, campaign_id=campaign.id, now=runtime.clock.now())
        session.commit()
        campaign_id = campaign.id
    tick(runtime)  # select the audience
    tick(runtime)  # the invite step: plan and send
    return campaign_id


def invites(runtime: Runtime, campaign_id: int) -> list[Message]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Message).where(Message.campaign_id == campaign_id, Message.step == "invite").order_by(Message.id)))


def copy_message(runtime: Runtime, original: Message, **values: Any) -> Message:
    """Another message like ``original`` (same episode), e.g. a fresh one for each hypothesis example."""
    with runtime.sessions() as session:
        columns = {c.key: getattr(original, c.key) for c in Message.__table__.columns if c.key != "id"}
        message = Message(**{**columns, "idempotency_key": f"copy:{next(_sids)}", **values})
        session.add(message)
        session.commit()
        return message


def episode_for(runtime: Runtime, campaign_id: int, phone: str) -> Episode:
    with runtime.sessions() as session:
        episode = session.scalars(
            select(Episode).join(Contact, Contact.id == Episode.contact_id)
            .where(Episode.campaign_id == campaign_id, Contact.phone == phone)
        ).one()
        return episode


def sms_messages(runtime: Runtime, phone: str) -> list[Message]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Message).where(Message.recipient == phone, Message.medium == "sms").order_by(Message.id)))
