"""/v1/webhooks: where Pulse POSTs response events, signed (admin only). A new secret is shown once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import Admin, RuntimeDep, SessionDep
from api.params import ObjectId
from api.schemas.webhooks import DeliveryOut, DeliveryPage, NewWebhookOut, WebhookIn, WebhookOut
from campaigns.people.fields import FieldError
from campaigns.webhooks import service
from channels.outbound import named_internal

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("", response_model=NewWebhookOut, status_code=201, summary="Subscribe an endpoint to events")
def create(body: WebhookIn, runtime: RuntimeDep, session: SessionDep, _: Admin) -> NewWebhookOut:
    if (internal := named_internal(body.url, runtime.settings.outbound_policy)) is not None:
        raise FieldError("url", internal)
    subscription = service.create_subscription(
        session, url=body.url, events=list(body.events), description=body.description,
        require_https=runtime.settings.environment == "production", now=runtime.clock.now(),
    )
    session.commit()
    return NewWebhookOut.of(subscription)


@router.get("", response_model=list[WebhookOut])
def list_webhooks(session: SessionDep, _: Admin) -> list[WebhookOut]:
    return [WebhookOut.of(s) for s in service.list_subscriptions(session)]


@router.get("/{webhook_id}", response_model=WebhookOut)
def get(webhook_id: ObjectId, session: SessionDep, _: Admin) -> WebhookOut:
    return WebhookOut.of(service.get_subscription(session, webhook_id))


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage, summary="Recent deliveries, newest first")
def deliveries(
    webhook_id: ObjectId, session: SessionDep, _: Admin, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryPage:
    page = service.list_deliveries(session, subscription_id=webhook_id, cursor=cursor, limit=limit)
    return DeliveryPage(items=[DeliveryOut.of(d) for d in page.items], next_cursor=page.next_cursor)


@router.delete("/{webhook_id}", status_code=204, summary="Unsubscribe: nothing more is sent, pending deliveries included")
def delete(webhook_id: ObjectId, session: SessionDep, _: Admin) -> Response:
    service.delete_subscription(session, webhook_id)
    session.commit()
    return Response(status_code=204)
