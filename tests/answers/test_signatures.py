"""Webhook signatures: Twilio's HMAC (the SDK's RequestValidator) and SendGrid's ECDSA, checked before parsing."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from starlette.requests import Request

from api.errors import ApiError
from api.routers.webhooks import verify_sendgrid, verify_twilio
from dispatcher.runtime.core import Runtime
from tests.answers.fixtures_events import (
    PUBLIC_URL,
    post_events,
    post_twilio,
    sendgrid_headers,
    sms_params,
    status_params,
    twilio_signature,
    webhook_settings,  # noqa: F401  (overrides `settings` in this module)
)
from tests.backends import Backend
from tests.conftest import make_settings

SMS = "/webhooks/twilio/sms"
EVENTS = "/webhooks/sendgrid/events"

# Twilio's published test vector (twilio-python tests/unit/test_request_validator.py).
TWILIO_VECTOR: dict[str, Any] = {
    "token": "12345",
    "url": "https://mycompany.com/myapp.php?foo=1&bar=2",
    "params": {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309", "To": "+18005551212", "Caller": "+14158675309"},
    "signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
}
# SendGrid's published test vector (sendgrid-python test/unit/test_eventwebhook.py): a real
# signed "dropped" event; the raw body ends in CRLF, and the signature covers it.
SENDGRID_VECTOR: dict[str, str] = {
    "public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==",
    "signature": "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=",
    "timestamp": "1600112502",
    "payload": json.dumps([{
        "email": "hello@world.com", "event": "dropped", "reason": "Bounced Address",
        "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
        "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
        "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>", "timestamp": 1600112492,
    }], sort_keys=True, separators=(",", ":")) + "\r\n",
}


def request_to(path: str, query: str, headers: dict[str, str]) -> Request:
    """A request as the app sees it behind a proxy: Host is internal, the public URL is configured."""
    return Request({
        "type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()] + [(b"host", b"10.0.0.7:8000")],
        "scheme": "http", "server": ("10.0.0.7", 8000), "root_path": "",
    })


# -- Twilio ---------------------------------------------------------------------------


def test_twilios_published_test_vector_verifies_against_the_configured_public_url(backend: Backend, tmp_path: Path) -> None:
    settings = make_settings(backend, tmp_path, twilio_auth_token=TWILIO_VECTOR["token"], public_url="https://mycompany.com")
    body = urlencode(TWILIO_VECTOR["params"]).encode()
    request = request_to("/myapp.php", "foo=1&bar=2", {"X-Twilio-Signature": TWILIO_VECTOR["signature"]})

    params = verify_twilio(request, body, settings)

    assert params.first("CallSid") == "CA1234567890ABCDE"
    with pytest.raises(ApiError) as refused:  # the same request seen on another public URL
        verify_twilio(request, body, make_settings(backend, tmp_path, twilio_auth_token="12345", public_url="https://other.example"))
    assert refused.value.status == 403


def test_a_signed_reply_is_accepted(runtime: Runtime, client: TestClient) -> None:
    assert post_twilio(client, SMS, sms_params("+14155550103", "hello")).status_code == 200


@pytest.mark.parametrize("tamper", ["changed_body", "added_param", "dropped_param", "host_url", "other_token", "no_header"])
def test_a_reply_whose_signature_does_not_match_is_refused(runtime: Runtime, client: TestClient, tamper: str) -> None:
    params = sms_params("+14155550103", "10")
    signature = twilio_signature(PUBLIC_URL + SMS, params)
    headers = {"X-Twilio-Signature": signature}
    if tamper == "changed_body":
        params = {**params, "Body": "0"}
    elif tamper == "added_param":
        params = {**params, "OptOutType": "STOP"}
    elif tamper == "dropped_param":
        params = {k: v for k, v in params.items() if k != "NumMedia"}
    elif tamper == "host_url":  # signed for the URL the request arrived on, not the public one
        headers = {"X-Twilio-Signature": twilio_signature("http://testserver" + SMS, params)}
    elif tamper == "other_token":
        headers = {"X-Twilio-Signature": twilio_signature(PUBLIC_URL + SMS, params, token="someone-elses-token")}
    else:
        headers = {}

    response = client.post(SMS, data=params, headers=headers)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"


def test_status_callbacks_are_signed_over_the_url_with_its_query_string(runtime: Runtime, client: TestClient) -> None:
    path = "/webhooks/twilio/status?pulse_message_id=41"
    params = status_params("SM" + "a" * 32, "delivered")

    assert post_twilio(client, path, params).status_code == 204
    assert post_twilio(client, path, params, sign_url=PUBLIC_URL + "/webhooks/twilio/status").status_code == 403
    forged = post_twilio(client, "/webhooks/twilio/status?pulse_message_id=42", params, signature=twilio_signature(PUBLIC_URL + path, params))
    assert forged.status_code == 403


def test_without_an_auth_token_every_twilio_request_is_refused(backend: Backend, tmp_path: Path) -> None:
    settings = make_settings(backend, tmp_path)
    with pytest.raises(ApiError) as refused:
        verify_twilio(request_to(SMS, "", {"X-Twilio-Signature": "x"}), b"Body=9", settings)
    assert refused.value.status == 403 and "PULSE_TWILIO_AUTH_TOKEN" in refused.value.message


# -- SendGrid -------------------------------------------------------------------------


def test_sendgrids_published_test_vector_verifies(backend: Backend, tmp_path: Path) -> None:
    settings = make_settings(backend, tmp_path, sendgrid_webhook_public_key=SENDGRID_VECTOR["public_key"])
    headers = {"X-Twilio-Email-Event-Webhook-Signature": SENDGRID_VECTOR["signature"], "X-Twilio-Email-Event-Webhook-Timestamp": SENDGRID_VECTOR["timestamp"]}
    body = SENDGRID_VECTOR["payload"].encode()
    signed_at = int(SENDGRID_VECTOR["timestamp"])

    assert verify_sendgrid(request_to(EVENTS, "", headers), body, settings, now=signed_at + 5) == SENDGRID_VECTOR["payload"]
    for refused_body in (body.rstrip(b"\r\n"), json.dumps(json.loads(body), indent=2).encode()):
        with pytest.raises(ApiError):  # the same events, serialised again: not what was signed
            verify_sendgrid(request_to(EVENTS, "", headers), refused_body, settings, now=signed_at + 5)
    with pytest.raises(ApiError):  # the same request an hour later: a replay
        verify_sendgrid(request_to(EVENTS, "", headers), body, settings, now=signed_at + 3600)


def test_a_signed_batch_is_accepted(runtime: Runtime, client: TestClient) -> None:
    response = post_events(client, [{"email": "a@example.com", "event": "processed", "sg_event_id": "e-1", "timestamp": 1}])
    assert response.status_code == 200 and response.json() == {"received": 1, "new": 1, "ignored": 0}


def _batch() -> bytes:
    return json.dumps([{"email": "a@example.com", "event": "delivered", "sg_event_id": "e-2", "timestamp": 1}]).encode()


@pytest.mark.parametrize("tamper", ["reserialised", "changed", "stale", "future", "restamped", "other_key", "garbage", "no_headers", "digits"])
def test_a_batch_whose_signature_does_not_match_or_is_stale_is_refused(runtime: Runtime, client: TestClient, tamper: str) -> None:
    body = _batch()
    headers = sendgrid_headers(body)
    now = int(time.time())
    if tamper == "reserialised":
        body = json.dumps(json.loads(body), separators=(",", ":")).encode()
    elif tamper == "changed":
        body = body.replace(b"delivered", b"bounce")
    elif tamper == "stale":
        headers = sendgrid_headers(body, timestamp=now - 600)
    elif tamper == "future":
        headers = sendgrid_headers(body, timestamp=now + 600)
    elif tamper == "restamped":  # a fresh timestamp on an old signature
        headers = {**sendgrid_headers(body, timestamp=now - 600), "X-Twilio-Email-Event-Webhook-Timestamp": str(now)}
    elif tamper == "other_key":
        headers = sendgrid_headers(body, key=ec.generate_private_key(ec.SECP256R1()))
    elif tamper == "garbage":
        headers = {**headers, "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(b"not a signature").decode() + "%%"}
    elif tamper == "digits":  # more digits than int() converts: was a 500
        headers = {**headers, "X-Twilio-Email-Event-Webhook-Timestamp": "9" * 5000}
    else:
        headers = {"Content-Type": "application/json"}

    response = client.post(EVENTS, content=body, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"


def test_the_signature_is_checked_before_the_body_is_parsed(runtime: Runtime, client: TestClient) -> None:
    body = b"{not json"
    assert client.post(EVENTS, content=body, headers={"Content-Type": "application/json"}).status_code == 403
    signed = client.post(EVENTS, content=body, headers=sendgrid_headers(body))
    assert signed.status_code == 422 and signed.json()["error"]["fields"][0]["field"] == "body"
    deep = b"[" * 100_000 + b"]" * 100_000  # Python's parser runs out of stack: was a 500
    signed = client.post(EVENTS, content=deep, headers=sendgrid_headers(deep))
    assert signed.status_code == 422 and signed.json()["error"]["fields"][0]["field"] == "body"


def test_without_a_verification_key_every_sendgrid_batch_is_refused(backend: Backend, tmp_path: Path) -> None:
    settings = make_settings(backend, tmp_path)
    body = _batch()
    with pytest.raises(ApiError) as refused:
        verify_sendgrid(request_to(EVENTS, "", sendgrid_headers(body)), body, settings)
    assert refused.value.status == 403 and "PULSE_SENDGRID_WEBHOOK_PUBLIC_KEY" in refused.value.message
