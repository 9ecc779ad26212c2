"""What an operator asks first: are the workers alive, what waits and why, what is due, what fails.

One function, ``operations_status``, behind ``GET /v1/status``, ``pulse status``
and the console's status page. A handful of grouped queries; nothing is changed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs.models import Campaign, Message, PlanStep
from campaigns.programs.waiting import waiting_messages
from dispatcher.runtime.core import Runtime

WAITING = ("queued", "retrying")


@dataclass
class Workers:
    mode: str  # inprocess or celery
    alive: list[str]
    broker_queue: int | None = None  # tasks waiting in the broker (Celery on Redis)
    detail: str = ""


@dataclass
class OldestWaiting:
    message_id: int
    campaign_id: int | None
    step: str
    state: str
    not_before: datetime | None
    waiting_since: datetime
    why: str


@dataclass
class DueStep:
    campaign_id: int
    campaign: str
    step: str
    due_at: datetime
    campaign_status: str


@dataclass
class ProviderErrors:
    channel: str
    error: str
    count: int
    last_at: datetime
    last_text: str


@dataclass
class Status:
    now: datetime
    workers: Workers
    queue_by_step: dict[str, int] = field(default_factory=dict)
    oldest_waiting: OldestWaiting | None = None
    steps_due_24h: list[DueStep] = field(default_factory=list)
    provider_errors_1h: list[ProviderErrors] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def why_waiting(session: Session, message: Message, *, contact_zone: str | None, now: datetime) -> str:
    """When a waiting message goes out and why it waits, in a sentence (the campaign progress API's reasoning)."""
    campaign = session.get(Campaign, message.campaign_id) if message.campaign_id else None
    if campaign is None:  # internal messages of no campaign (alerts) leave on the next tick
        return "due now: the scheduler hands it over on its next tick"
    zone = contact_zone or "UTC"
    group = next((g for g in waiting_messages(session, campaign=campaign, now=now) if g.timezone == zone and g.state == message.state), None)
    if group is None:
        return "due now: the scheduler hands it over on its next tick"
    return f"goes {group.local_time}: {group.reason}" if group.local_time else group.reason


def workers_status(runtime: Runtime) -> Workers:
    """Who does the work: the in-process worker (this process's thread, or a `pulse run` answering at its
    address), or the Celery workers that answer a ping."""
    settings = runtime.settings
    if settings.worker == "inprocess":
        return _inprocess_status(runtime)
    try:
        from dispatcher.runtime.celery_app import make_celery

        celery = make_celery(settings)
        replies = celery.control.inspect(timeout=1.0).ping() or {}
        queue = None
        if settings.broker_url.startswith("redis"):
            import redis

            queue = int(redis.Redis.from_url(settings.broker_url, socket_connect_timeout=2).llen("celery"))
        return Workers(mode="celery", alive=sorted(replies), broker_queue=queue,
                       detail="" if replies else "no Celery worker answered a ping within 1 s")
    except Exception as exc:  # an unreachable broker is itself the answer
        return Workers(mode="celery", alive=[], detail=f"broker unreachable: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


def _inprocess_status(runtime: Runtime) -> Workers:
    import time

    worker = runtime.extras.get("inprocess_worker")
    if worker is not None:  # asked inside the `pulse run` process itself
        late = max(60.0, 3 * runtime.settings.tick_seconds)
        if worker.last_tick is not None and time.time() - worker.last_tick < late:
            return Workers(mode="inprocess", alive=["in-process worker (this API process)"], detail=f"last tick {time.time() - worker.last_tick:.0f} s ago")
        return Workers(mode="inprocess", alive=[], detail=f"the in-process worker has not finished a tick in the last {late:.0f} s")
    if runtime.extras.get("serves_api"):
        return Workers(mode="inprocess", alive=[], detail="this API process was started without its in-process worker: nothing is being sent")
    # Asked from elsewhere (the `pulse status` command): the worker lives in `pulse run`; is it up?
    import httpx

    url = f"http://{runtime.settings.host}:{runtime.settings.port}"
    try:
        answered = httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        answered = False
    if answered:
        return Workers(mode="inprocess", alive=[f"pulse run at {url}"], detail="its in-process worker runs the scheduler and every task")
    # A `pulse run` on another port (PULSE_PORT set in its terminal only) is the usual reason: say so.
    return Workers(mode="inprocess", alive=[], detail=f"no pulse run answers at {url}: nothing is being sent "
                   "(if `pulse run` listens elsewhere, set its PULSE_PORT and PULSE_HOST here too)")


def operations_status(runtime: Runtime, session: Session) -> Status:
    """Workers, queue depth by step, the oldest waiting message and why, steps due in 24 h, provider errors in the last hour."""
    now = runtime.clock.now()
    status = Status(now=now, workers=workers_status(runtime))
    waiting = Message.state.in_(WAITING)
    status.queue_by_step = {step: count for step, count in session.execute(
        select(Message.step, func.count()).where(waiting).group_by(Message.step).order_by(Message.step))}
    oldest = session.execute(
        select(Message, Campaign.status, Contact.timezone)
        .outerjoin(Campaign, Campaign.id == Message.campaign_id).outerjoin(Contact, Contact.id == Message.contact_id)
        .where(waiting).order_by(Message.created_at, Message.id).limit(1)
    ).first()
    if oldest is not None:
        message, _, zone = oldest
        status.oldest_waiting = OldestWaiting(
            message_id=message.id, campaign_id=message.campaign_id, step=message.step, state=message.state,
            not_before=message.not_before, waiting_since=message.created_at,
            why=why_waiting(session, message, contact_zone=zone, now=now),
        )
    for step, campaign in session.execute(
        select(PlanStep, Campaign).join(Campaign, Campaign.id == PlanStep.campaign_id).where(
            PlanStep.status == "pending", PlanStep.due_at <= now + timedelta(hours=24),
            Campaign.status.in_(("active", "paused", "closed")),
        ).order_by(PlanStep.due_at).limit(50)
    ):
        status.steps_due_24h.append(DueStep(campaign.id, campaign.name, step.key, step.due_at, campaign.status))
    hour_ago = now - timedelta(hours=1)
    for channel, code, count, last_at in session.execute(
        select(Message.channel, Message.error_code, func.count(), func.max(Message.updated_at))
        .where(Message.error_code.is_not(None), Message.state.in_(("failed", "retrying", "unknown")), Message.updated_at >= hour_ago)
        .group_by(Message.channel, Message.error_code).order_by(func.count().desc())
    ):
        text = session.scalar(select(Message.error_text).where(Message.channel == channel, Message.error_code == code, Message.updated_at >= hour_ago)
                              .order_by(Message.updated_at.desc()).limit(1)) or ""
        status.provider_errors_1h.append(ProviderErrors(channel or "none", code or "unknown", count, last_at, text[:300]))
    return status
