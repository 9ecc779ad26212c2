"""Delivering outgoing webhooks: signed POSTs, one attempt recorded per try, retried with backoff.

Deliveries are queued by the answer's follow-through (``queue_response_event``,
``dispatcher.answers.follow_through``), handed out when it commits, or by the
scheduler tick (``deliver_due_webhooks``), which also retries. Each attempt:

1. claim the row (``pending``/``retrying`` → ``delivering``, attempts + 1), committed;
2. POST the JSON body with ``Pulse-Signature: t=<unix>,v1=<hex>`` (re-signed per attempt);
3. record: 2xx ``delivered``; 408, 429, 5xx, timeouts and connection errors
   ``retrying`` after an exponential backoff (capped, ``Retry-After`` honoured)
   until ``MAX_ATTEMPTS``, then ``failed``; any other answer ``failed`` at once
   (410 Gone also turns the subscription off).

Delivery is at least once: a worker that dies between 2 and 3 leaves the row
``delivering``, and the tick retries it after ``STALE_CLAIM``. Receivers
deduplicate by the event id (``Pulse-Event-Id``, and ``id`` in the body).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from campaigns.people.models import Account, Contact
from campaigns.programs.models import Campaign, Response
from campaigns.webhooks.models import WebhookDelivery, WebhookSubscription
from campaigns.webhooks.service import SIGNATURE_HEADER, body_bytes, queue_event, signature
from channels.outbound import GuardedTransport
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.metrics import WEBHOOK_DELIVERIES
from dispatcher.sending.outcomes import backoff

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10  # 30 s, 1, 2, 4 … 60 min apart: about three hours before giving up
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
STALE_CLAIM = timedelta(minutes=10)  # a delivery in flight this long belonged to a worker that died
RESEND_AFTER = timedelta(minutes=5)  # handed out but never claimed: hand it out again
BATCH = 50
RETRYABLE_STATUS = (408, 429)
USER_AGENT = "Pulse-Webhooks/1"


def _response_json(response: Response) -> dict[str, Any]:
    return {
        "id": response.id, "score": response.score, "category": response.category, "comment": response.comment,
        "medium": response.medium, "created_at": response.created_at.isoformat(),
    }


def response_event_data(session: Session, response: Response, previous: Response | None) -> dict[str, Any]:
    """What ``response.created`` / ``response.updated`` carry: the answer, who gave it, in which survey."""
    campaign = session.get(Campaign, response.campaign_id)
    contact = session.get(Contact, response.contact_id)
    account = session.get(Account, response.account_id) if response.account_id else None
    assert campaign is not None and contact is not None
    return {
        "response": {
            **_response_json(response), "kind": response.kind, "episode_id": response.episode_id,
            "campaign": {"id": campaign.id, "name": campaign.name, "mode": campaign.mode},
            "contact": {"id": contact.id, "external_id": contact.external_id, "name": contact.name, "email": contact.email},
            "account": {"id": account.id, "external_id": account.external_id, "name": account.name, "tier": account.tier} if account else None,
        },
        "previous": _response_json(previous) if previous is not None else None,
    }


def queue_response_event(session: Session, *, response: Response, previous: Response | None, now: datetime) -> list[int]:
    """``response.created`` for an episode's first answer, ``response.updated`` for a later one. Flushes."""
    event_type = "response.updated" if previous is not None else "response.created"
    return queue_event(session, event_type=event_type, data=response_event_data(session, response, previous), response_id=response.id, now=now)


def listened_events(session: Session) -> set[str]:
    """The event types some active subscription wants (one query): a batch builds no event nobody listens to."""
    return {event for events in session.scalars(select(WebhookSubscription.events).where(WebhookSubscription.active.is_(True))) for event in events or []}


def enqueue_for_responses(session: Session, response_ids: Sequence[int], now: datetime) -> list[int]:
    """Mark these answers' due deliveries as handed out; their ids. The caller commits and submits."""
    return sorted(session.scalars(
        update(WebhookDelivery).where(
            WebhookDelivery.response_id.in_(response_ids), WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now, WebhookDelivery.enqueued_at.is_(None),
        ).values(enqueued_at=utcnow()).returning(WebhookDelivery.id).execution_options(synchronize_session=False)
    ))


def deliver_due_webhooks(runtime: Runtime, now: datetime) -> None:
    """Tick: retry deliveries whose worker died, then hand out every due delivery."""
    wall = utcnow()
    with runtime.sessions() as session:  # read first: most ticks have nothing to deliver and need no write lock
        if session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.status.in_(("pending", "retrying", "delivering"))).limit(1)) is None:
            return
    with runtime.sessions() as session:
        session.execute(
            update(WebhookDelivery).where(WebhookDelivery.status == "delivering", WebhookDelivery.claimed_at < wall - STALE_CLAIM)
            .values(status="retrying", next_attempt_at=now, enqueued_at=None, last_error="the worker stopped mid-delivery; retried", updated_at=now)
        )
        ids = sorted(session.scalars(
            update(WebhookDelivery).where(
                WebhookDelivery.status.in_(("pending", "retrying")), WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.enqueued_at.is_(None), WebhookDelivery.enqueued_at < wall - RESEND_AFTER),
            ).values(enqueued_at=wall).returning(WebhookDelivery.id)
        ))
        session.commit()
    for start in range(0, len(ids), BATCH):
        runtime.submit("deliver_webhooks", ids[start:start + BATCH])


def deliver_webhooks(runtime: Runtime, delivery_ids: Sequence[int]) -> None:
    """Task: one attempt for each due delivery. Safe to run twice: only one run claims an attempt."""
    transport = GuardedTransport(runtime.settings.outbound_policy)  # no loopback, private or metadata addresses
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, headers={"User-Agent": USER_AGENT}, transport=transport) as client:
        for delivery_id in delivery_ids:
            _attempt(runtime, client, delivery_id)


def _claim(runtime: Runtime, delivery_id: int) -> tuple[WebhookDelivery, WebhookSubscription] | None:
    now = runtime.clock.now()
    with runtime.sessions() as session:
        claimed = session.scalar(
            update(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.status.in_(("pending", "retrying")),
                WebhookDelivery.next_attempt_at <= now,
            ).values(status="delivering", attempts=WebhookDelivery.attempts + 1, claimed_at=utcnow(), updated_at=now)
            .returning(WebhookDelivery.id)
        )
        row = session.execute(
            select(WebhookDelivery, WebhookSubscription).join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(WebhookDelivery.id == delivery_id)
        ).first() if claimed is not None else None
        if row is not None and not row[1].active:
            row[0].status, row[0].last_error = "failed", "the webhook was turned off"
            row = None
        session.commit()
    return (row[0], row[1]) if row is not None else None


def _attempt(runtime: Runtime, client: httpx.Client, delivery_id: int) -> None:
    claimed = _claim(runtime, delivery_id)
    if claimed is None:
        return
    delivery, subscription = claimed
    body = body_bytes(delivery.payload)
    headers = {
        "Content-Type": "application/json", "Pulse-Event": delivery.event_type, "Pulse-Event-Id": delivery.event_id,
        "Pulse-Delivery": str(delivery.id), "Pulse-Attempt": str(delivery.attempts),
        SIGNATURE_HEADER: signature(subscription.secret, int(utcnow().timestamp()), body),  # wall time: receivers check it against theirs
    }
    code: int | None = None
    retry_after: float | None = None
    try:
        answer = client.post(subscription.url, content=body, headers=headers)
        code, error = answer.status_code, (None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}: {answer.text[:300]}")
        after = answer.headers.get("Retry-After", "")
        retry_after = float(after) if after.isascii() and after.isdigit() else None  # "²" is a digit to isdigit()
    except httpx.TimeoutException as exc:
        error = f"timeout: {exc or 'no answer in time'}"
    except httpx.HTTPError as exc:
        error = f"connection: {exc}"
    _record(runtime, delivery.id, code=code, error=error, retry_after=retry_after)


def _retryable(code: int | None) -> bool:
    return code is None or code in RETRYABLE_STATUS or code >= 500


def _record(runtime: Runtime, delivery_id: int, *, code: int | None, error: str | None, retry_after: float | None) -> None:
    now = runtime.clock.now()
    with runtime.sessions() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != "delivering":
            return  # deleted with its subscription, or taken back as stale
        delivery.last_status_code, delivery.last_error, delivery.updated_at, delivery.claimed_at = code, error, now, None
        if error is None:
            delivery.status, delivery.delivered_at = "delivered", now
        elif _retryable(code) and delivery.attempts < MAX_ATTEMPTS:
            delivery.status, delivery.next_attempt_at, delivery.enqueued_at = "retrying", now + backoff(delivery.attempts, retry_after), None
        else:
            delivery.status = "failed"
            if _retryable(code):
                delivery.last_error = f"gave up after {delivery.attempts} attempts: {error}"
            elif code == 410:
                _turn_off(session, delivery.subscription_id, now)
        session.commit()
        WEBHOOK_DELIVERIES.labels(delivery.status).inc()
    if error is not None:
        log.info("webhook delivery %s: %s", delivery_id, error, extra={"delivery_id": delivery_id})


def _turn_off(session: Session, subscription_id: int, now: datetime) -> None:
    """410 Gone: the receiver says the endpoint is gone for good; stop sending it anything."""
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is not None and subscription.active:
        subscription.active = False
        subscription.disabled_reason = f"the endpoint answered 410 Gone on {now.date().isoformat()}"
        session.execute(
            update(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id, WebhookDelivery.status.in_(("pending", "retrying")))
            .values(status="failed", last_error="the webhook was turned off after 410 Gone", updated_at=now)
        )
