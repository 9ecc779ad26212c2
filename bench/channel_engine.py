"""The simulator's side of Pulse: one real engine per arm, driven through its public surface.

A fresh SQLite database (migrated), the database clock, the in-process queue, email
through the SendGrid adapter to the SendGrid fake at its HTTP boundary
(``tests/fakes/sendgrid_fake.py``), the outbox channel for SMS and the in-app
prompt store. Contacts arrive by ``POST /v1/contacts/bulk``, campaigns by
``POST /v1/campaigns`` and ``…/launch``; the scheduler tick runs the plan while
the clock moves; people answer through the survey link (``POST /r/{token}`` with
a form ticket, as the page's script sends it), Twilio's signed inbound-SMS
webhook and the in-app prompt API.

Reactions without an answer reach Pulse the way production receives them: the
simulator plays SendGrid's Event Webhook — for each email the fake accepted, a
signed ``POST /webhooks/sendgrid/events`` batch with ``delivered``, then the
person's ``open`` (``sg_machine_open`` for Apple's proxy) and ``click`` events,
echoing the custom args the message was sent with (``pulse_message_id``) and the
request's ``X-Message-Id`` as SendGrid does; an in-app prompt is shown when the
widget fetches it (``GET /v1/in-app/prompt``) and dismissed through the prompt API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from channel_population import MEDIA, Population
from common import Timer  # noqa: F401  (puts the repository on sys.path, for tests.fakes)
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from api.app import create_app
from campaigns.access.models import Role
from campaigns.access.service import create_key
from campaigns.migrate import upgrade
from campaigns.people.models import Contact
from campaigns.programs.models import Episode, Message, PlanStep
from dispatcher.answers.in_app_answers import identity_signature
from dispatcher.answers.links import form_ticket, human_proof
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import build_runtime
from dispatcher.runtime.settings import Settings
from dispatcher.runtime.tasks import attach_inline_queue
from dispatcher.sending.scheduler import tick
from tests.answers.fixtures_events import sendgrid_headers, sendgrid_public_key
from tests.fakes.sendgrid_fake import FAKE_API_KEY, SendGridFake

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # a Monday
PUBLIC_URL = "https://pulse.sim"
TWILIO_TOKEN = "simulated-twilio-token"
IN_APP_KEY, IN_APP_SECRET = "pk_sim", "in-app-secret-for-the-simulator"
ALWAYS = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
PLAN = [{"step": "invite", "offset_days": 0}, {"step": "reminder", "offset_days": 3}, {"step": "reminder", "offset_days": 6}, {"step": "close", "offset_days": 10}]
TICK = timedelta(hours=12)
SENT = ("sent", "delivered", "opened", "clicked", "answered")
SCORE = "5"  # on every scale (NPS 0-10, CSAT 1-5, CES 1-7)


@dataclass
class RoundStats:
    episodes: int = 0
    answered: int = 0
    invites: int = 0
    invites_answered: int = 0
    asks: int = 0
    by_medium: dict[str, int] = field(default_factory=dict)

    @property
    def episode_rate(self) -> float:
        return self.answered / self.episodes if self.episodes else 0.0

    @property
    def invite_rate(self) -> float:
        return self.invites_answered / self.invites if self.invites else 0.0

    @property
    def messages_per_answer(self) -> float:
        return self.asks / self.answered if self.answered else float("inf")

    def share(self, medium: str) -> float:
        return self.by_medium.get(medium, 0) / self.asks if self.asks else 0.0


class Engine:
    def __init__(self, folder: Path, population: Population, *, seed: int, explore: bool) -> None:
        url = f"sqlite:///{folder / 'pulse.db'}"
        upgrade(url)
        self.sendgrid = SendGridFake(validate=False)  # its schema checks are the tests' business, not the simulator's
        self.sendgrid.start()
        self.seen_requests = 0
        self.sent_emails: dict[int, tuple[str, dict[str, str], str]] = {}  # message id → (X-Message-Id, custom args, answer URL)
        self.settings = Settings(
            environment="test", secret_key=SecretStr("simulator-secret-key-0123456789-abcdefgh"), database_url=url, outbox_dir=folder / "outbox",
            clock="database", public_url=PUBLIC_URL, twilio_auth_token=SecretStr(TWILIO_TOKEN), in_app_publishable_key=IN_APP_KEY,
            in_app_secret=SecretStr(IN_APP_SECRET), answer_rate_per_ip=10**9, answer_rate_per_token=10**9,
            channel_explore=explore, channel_seed=seed, email_channel="sendgrid", sendgrid_api_key=SecretStr(FAKE_API_KEY),
            sendgrid_base_url=self.sendgrid.base_url, sendgrid_webhook_public_key=sendgrid_public_key(),
        )
        self.runtime = attach_inline_queue(build_runtime(self.settings))
        self.runtime.clock.set(START)  # type: ignore[attr-defined]
        self.client = TestClient(create_app(self.settings, runtime=self.runtime, start_worker=False))
        with self.runtime.sessions() as session, session.begin():
            token = create_key(session, role=Role.ADMIN, name="simulator", now=START).token
        self.headers = {"Authorization": f"Bearer {token}"}
        self.population = population
        items = [{"external_id": e, "email": f"{e}@example.com", "phone": population.phones[i], "role": population.roles[i], "timezone": "UTC"}
                 for i, e in enumerate(population.external_ids)]
        imported = self._post("/v1/contacts/bulk", {"items": items})
        if imported.get("errors"):
            raise RuntimeError(f"contacts refused: {imported['errors'][:3]}")
        with self.runtime.sessions() as session:
            ids = dict(session.execute(select(Contact.external_id, Contact.id)).all())
        self.contact_ids = [ids[e] for e in population.external_ids]
        self.index = {cid: i for i, cid in enumerate(self.contact_ids)}

    def close(self) -> None:
        self.client.close()
        self.runtime.close()
        self.sendgrid.stop()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, json=body, headers=self.headers)
        if response.status_code >= 300:
            raise RuntimeError(f"{path}: {response.status_code} {response.text}")
        return dict(response.json())

    def run_round(self, number: int, channels: tuple[str, ...], choice: str, *, gap_days: int) -> RoundStats:
        """One campaign (the oracle: one per best medium) from launch to close; its figures."""
        now = START + timedelta(days=gap_days * (number - 1))
        self.runtime.clock.set(now)  # type: ignore[attr-defined]
        pop = self.population
        seen = [{"external_id": e, "last_seen_at": (now - s).isoformat()} for i, e in enumerate(pop.external_ids) if (s := pop.last_seen(i, number)) is not None]
        if seen:
            self._post("/v1/contacts/bulk", {"items": seen})
        specs: list[tuple[tuple[str, ...], str, list[int]]]
        if choice == "oracle":
            groups = {m: [cid for i, cid in enumerate(self.contact_ids) if pop.best(i, number) == m] for m in MEDIA}
            specs = [((m,), "ordered", ids) for m, ids in groups.items() if ids]
        else:
            specs = [(channels, choice, self.contact_ids)]
        campaign_ids = []
        for media, mode, ids in specs:
            created = self._post("/v1/campaigns", {
                "name": f"CES {number}", "survey": {"kind": "ces"}, "audience": {"contact_ids": ids}, "plan": PLAN,
                "channels": list(media), "channel_choice": mode, "sending_window": ALWAYS,
                "exclusions": {"min_account_age_days": 0, "exclude_churned": False},
            })
            self._post(f"/v1/campaigns/{created['id']}/launch", {})
            campaign_ids.append(created["id"])
        handled: set[int] = set()
        for _ in range(int(timedelta(days=11) / TICK)):
            tick(self.runtime)
            self._react(campaign_ids, number, handled)
            self.runtime.clock.advance(TICK)  # type: ignore[attr-defined]
        return self._stats(campaign_ids)

    def _react(self, campaign_ids: list[int], number: int, handled: set[int]) -> None:
        """Each ask that went out since the last tick is reacted to as the population says: SendGrid's
        events for an email, the prompt shown and dismissed in-app, and the answer."""
        with self.runtime.sessions() as session:
            rows = session.execute(
                select(Message, Episode.public_id, PlanStep.number)
                .join(Episode, Episode.id == Message.episode_id).join(PlanStep, PlanStep.id == Message.step_id)
                .where(Message.campaign_id.in_(campaign_ids), Message.step.in_(("invite", "reminder")), Message.state.in_(SENT))
                .order_by(Message.id)
            ).all()
        fresh = [(m, public_id, ask) for m, public_id, ask in rows if m.id not in handled]
        handled.update(m.id for m, _, _ in fresh)
        answers = []
        events: list[dict[str, Any]] = []
        self._read_sendgrid()
        for message, public_id, ask in fresh:
            assert message.contact_id is not None and message.medium is not None  # a survey ask to a contact
            index = self.index[message.contact_id]
            answered = self.population.answers(index, number, ask, message.medium)
            if message.medium == "email":
                events += self._email_events(message, self.population.email_reaction(index, number, ask, answered))
            elif message.medium == "in_app" and not answered and self.population.shown(index, number, ask):
                self._show(message, dismiss=self.population.dismisses(index, number, ask))
            if answered:
                answers.append((message, public_id))
        if events:
            self._post_events(events)
        for message, public_id in answers:
            self._answer(message, public_id)

    def _read_sendgrid(self) -> None:
        """What the fake accepted since the last look: per message, what SendGrid would echo."""
        requests = self.sendgrid.requests
        for request in requests[self.seen_requests:]:
            for personalization in request.body["personalizations"]:
                args = personalization.get("custom_args", {})
                answer_url = personalization.get("substitutions", {}).get("-pulse_answer_url-", "")
                self.sent_emails[int(args["pulse_message_id"])] = (request.message_id, args, answer_url)
        self.seen_requests = len(requests)

    def _email_events(self, message: Message, reaction: tuple[str, ...]) -> list[dict[str, Any]]:
        """SendGrid's events for one email: delivered, then the reaction (opens, clicks)."""
        x_message_id, args, answer_url = self.sent_emails[message.id]
        stamp = int(utcnow().timestamp())
        events = []
        for n, name in enumerate(("delivered", *reaction)):
            event: dict[str, Any] = {
                "email": message.recipient, "timestamp": stamp + n, "event": "open" if name == "machine_open" else name,
                "sg_event_id": f"sim-{message.id}-{n}-{name}", "sg_message_id": f"{x_message_id}.filter0001.16648.5515E0B88.0", **args,
            }
            if name == "machine_open":
                event["sg_machine_open"] = True
            if name == "click":
                event["url"] = answer_url
            events.append(event)
        return events

    def _post_events(self, events: list[dict[str, Any]]) -> None:
        body = json.dumps(events).encode()
        response = self.client.post("/webhooks/sendgrid/events", content=body, headers=sendgrid_headers(body))  # signed now, in real time
        if response.status_code != 200 or response.json()["new"] != len(events):
            raise RuntimeError(f"SendGrid events: {response.status_code} {response.text[:300]}")

    def _answer(self, message: Message, public_id: str) -> None:
        if message.medium == "email":
            ticket = form_ticket(self.runtime, public_id, issued_at=utcnow() - timedelta(seconds=20))
            path = urlsplit(self.sent_emails[message.id][2]).path  # the link in the email SendGrid was given
            response = self.client.post(path, data={"score": SCORE, "comment": "", "ticket": ticket, "human": human_proof(self.runtime, ticket)}, follow_redirects=False)
            expected = 303
        elif message.medium == "sms":
            params = {"MessageSid": f"SM{message.id:032x}", "From": message.recipient or "", "To": "+15005550006", "Body": SCORE}
            signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{PUBLIC_URL}/webhooks/twilio/sms", params)
            response = self.client.post("/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})
            expected = 200
        else:
            prompt = self._prompt(message)
            if prompt is None:
                return
            response = self.client.post(f"/v1/in-app/prompts/{prompt['id']}/answer", json={"score": int(SCORE)}, headers=self._identity(message))
            expected = 200
        if response.status_code != expected:
            raise RuntimeError(f"answer on {message.medium}: {response.status_code} {response.text[:300]}")

    def _identity(self, message: Message) -> dict[str, str]:
        external_id = message.recipient or ""
        return {"X-Pulse-Key": IN_APP_KEY, "X-Pulse-Contact": external_id, "X-Pulse-Signature": identity_signature(IN_APP_SECRET, external_id)}

    def _prompt(self, message: Message) -> dict[str, Any] | None:
        prompt = self.client.get("/v1/in-app/prompt", headers=self._identity(message)).json()["prompt"]
        return prompt if prompt is not None and prompt["message_id"] == message.id else None

    def _show(self, message: Message, *, dismiss: bool) -> None:
        """The person came to the product: the widget fetched (showed) the prompt; they may close it."""
        prompt = self._prompt(message)
        if prompt is not None and dismiss:
            self.client.post(f"/v1/in-app/prompts/{prompt['id']}/dismiss", headers=self._identity(message))

    def _stats(self, campaign_ids: list[int]) -> RoundStats:
        stats = RoundStats()
        with self.runtime.sessions() as session:
            episodes = Episode.campaign_id.in_(campaign_ids)
            stats.episodes = session.scalar(select(func.count()).where(episodes, Episode.state != "excluded")) or 0
            stats.answered = session.scalar(select(func.count()).where(episodes, Episode.answered_at.is_not(None))) or 0
            asks = (Message.campaign_id.in_(campaign_ids), Message.step.in_(("invite", "reminder")), Message.state.in_(SENT))
            stats.by_medium = dict(session.execute(select(Message.medium, func.count()).where(*asks).group_by(Message.medium)).all())  # type: ignore[arg-type]
            stats.asks = sum(stats.by_medium.values())
            stats.invites = session.scalar(select(func.count()).where(*asks, Message.step == "invite")) or 0
            stats.invites_answered = session.scalar(select(func.count()).where(*asks, Message.step == "invite", Message.state == "answered")) or 0
        return stats
