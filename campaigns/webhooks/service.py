"""Outgoing webhook subscriptions, events queued for them, and how deliveries are signed.

An event is queued in the transaction that causes it (one delivery row per
subscription that wants it), so it exists exactly when its cause was kept;
the dispatcher delivers it after commit. Functions flush; the caller commits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.db import dialect_insert
from campaigns.paging import Page, page_by_id
from campaigns.people.fields import FieldError
from campaigns.people.service import NotFound
from campaigns.webhooks.models import WebhookDelivery, WebhookSubscription

EVENTS = ("response.created", "response.updated")
SIGNATURE_HEADER = "Pulse-Signature"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def check_url(url: str, *, require_https: bool) -> str:
    value = url.strip()
    parts = urlsplit(value)
    schemes = ("https",) if require_https else ("http", "https")
    if parts.scheme not in schemes or not parts.hostname:
        raise FieldError("url", f"must be an absolute {' or '.join(schemes)} URL")
    if parts.username or parts.password:
        raise FieldError("url", "must not carry credentials; verify our signature instead")
    return value


def check_events(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in EVENTS]
    if unknown or not events:
        raise FieldError("events", f"use one or more of {', '.join(EVENTS)}" + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    return list(dict.fromkeys(events))


def create_subscription(
    session: Session, *, url: str, events: list[str], description: str | None, require_https: bool, now: datetime,
) -> WebhookSubscription:
    """A new active subscription with a fresh secret (the caller shows it once)."""
    subscription = WebhookSubscription(
        url=check_url(url, require_https=require_https), secret=new_secret(), events=check_events(events),
        description=description, active=True, created_at=now,
    )
    session.add(subscription)
    session.flush()
    return subscription


def list_subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def get_subscription(session: Session, subscription_id: int) -> WebhookSubscription:
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound(f"no webhook with id {subscription_id}")
    return subscription


def delete_subscription(session: Session, subscription_id: int) -> None:
    """Gone with its delivery history; a delivery in flight finds its row gone and stops."""
    session.delete(get_subscription(session, subscription_id))
    session.flush()


def queue_event(session: Session, *, event_type: str, data: dict[str, Any], response_id: int | None, now: datetime) -> list[int]:
    """One delivery per active subscription that wants ``event_type``; their ids (none: nobody listens)."""
    assert event_type in EVENTS, event_type
    wanted = [s.id for s in session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True))) if event_type in (s.events or [])]
    if not wanted:
        return []
    event_id = f"evt_{uuid.uuid4().hex}"
    payload = {"id": event_id, "type": event_type, "created_at": now.isoformat(), "data": data}
    rows = [
        {"subscription_id": subscription_id, "event_id": event_id, "event_type": event_type, "response_id": response_id,
         "payload": payload, "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now}
        for subscription_id in wanted
    ]
    session.execute(dialect_insert(session, WebhookDelivery).on_conflict_do_nothing(index_elements=["subscription_id", "event_id"]), rows)
    return list(session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.event_id == event_id)))


def list_deliveries(session: Session, *, subscription_id: int, cursor: str | None, limit: int) -> Page:
    """Newest first, by cursor."""
    get_subscription(session, subscription_id)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    return page_by_id(session, query, WebhookDelivery.id, cursor=cursor, limit=limit, newest_first=True)


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON, keys sorted, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``Pulse-Signature`` value: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"
