"""The demo's customers: they answer by email link, by SMS reply and in-app, one is a detractor, one opts out.

A thread beside `pulse run --demo` that watches the demo campaign. When a
scripted contact's survey arrives, that contact acts through the same
functions the public endpoints call (the answer page's, Twilio's inbound
webhook's, the in-app API's), and the terminal shows the plan step by step.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from rich.console import Console
from sqlalchemy import select

from campaigns.access.console import first_admin, issue_sign_in_link
from campaigns.people.models import Contact
from campaigns.programs import report
from campaigns.programs.models import Campaign, Episode, PlanStep
from dispatcher.answers.answering import accept_answer, kick
from dispatcher.answers.in_app_answers import answer_prompt, pending_prompt
from dispatcher.answers.inbound_sms import InboundSmsMessage, receive_sms
from dispatcher.loop.console_mail import sign_in_url
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Act:
    how: str  # email, sms, in_app, stop
    score: int | None = None
    comment: str | None = None


SCRIPT: dict[str, Act] = {
    "demo-0": Act("email", 10, "The new dashboards save me an hour a week"),
    "demo-1": Act("email", 8, "Good, but exports could be faster"),
    "demo-2": Act("sms", 9, "great support"),
    "demo-3": Act("email", 3, "Onboarding took three weeks and nobody called back"),  # the detractor
    "demo-7": Act("stop"),  # opts out of SMS
    "demo-8": Act("in_app", 9, "Handy right where I work"),
}
DEMO_ADMIN = "demo-admin@example.com"
VERBS = {"email": "by email link", "sms": "by SMS reply", "in_app": "in the app"}


class DemoCustomers:
    def __init__(self, runtime: Runtime, campaign_id: int, console: Console, *, urls: dict[str, str], poll_seconds: float = 0.3) -> None:
        self.runtime = runtime
        self.campaign_id = campaign_id
        self.console = console
        self.urls = urls
        self.poll_seconds = poll_seconds
        self.done: set[str] = set()
        self.steps: dict[int, str] = {}
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pulse-demo-customers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self.finished.is_set():
            try:
                self.act()
                self.show_steps()
            except Exception:  # the demo goes on; the next round tries again
                log.exception("demo customers: a round failed")
            time.sleep(self.poll_seconds)  # a person's pace, on the demo's fast clock

    def act(self) -> None:
        """Every scripted contact whose survey has arrived does their part, once."""
        with self.runtime.sessions() as session:
            ready = session.execute(
                select(Episode, Contact).join(Contact, Contact.id == Episode.contact_id).where(
                    Episode.campaign_id == self.campaign_id, Episode.invited_at.is_not(None), Contact.external_id.in_(SCRIPT))
            ).all()
        for episode, contact in ready:
            if contact.external_id in self.done:
                continue
            self.done.add(contact.external_id)
            try:
                self._do(SCRIPT[contact.external_id], episode.id, contact)
            except Exception:  # e.g. SQLite busy on a loaded machine: this customer tries again next round
                self.done.discard(contact.external_id)
                raise

    def _do(self, act: Act, episode_id: int, contact: Contact) -> None:
        runtime = self.runtime
        now = runtime.clock.now()
        with runtime.sessions() as session:
            if act.how == "email":
                episode = session.get(Episode, episode_id)
                assert episode is not None and act.score is not None
                accept_answer(runtime, session, episode=episode, score=act.score, comment=act.comment, medium="email", now=now)
            elif act.how in ("sms", "stop"):
                body = "STOP" if act.how == "stop" else str(act.score)
                receive_sms(runtime, session, InboundSmsMessage(f"SMdemo{episode_id}a", contact.phone or "", None, body), now=now)
                if act.how == "sms" and act.comment:
                    session.commit()
                    receive_sms(runtime, session, InboundSmsMessage(f"SMdemo{episode_id}b", contact.phone or "", None, act.comment), now=now)
            elif act.how == "in_app":
                prompt = pending_prompt(runtime, session, external_id=contact.external_id)
                if prompt is None:
                    self.done.discard(contact.external_id)  # the prompt is not there yet: try again next round
                    return
                assert act.score is not None
                answer_prompt(runtime, session, external_id=contact.external_id, prompt_id=prompt.prompt_id, score=act.score, comment=act.comment)
            session.commit()
        kick(runtime)  # the task, the thank-you and the alert follow on the worker
        if act.how == "stop":
            self.console.print(f"  [magenta]customer[/] {contact.name} replied STOP: opted out of every SMS")
        else:
            mood = " [red](a detractor: the account owner is alerted and gets a follow-up task)[/]" if (act.score or 10) <= 6 else ""
            self.console.print(f"  [magenta]customer[/] {contact.name} answered {act.score} {VERBS[act.how]}: “{act.comment}”{mood}")

    def show_steps(self) -> None:
        """A line for every step that moved since the last look; the summary and the URLs at the end."""
        with self.runtime.sessions() as session:
            campaign = session.get(Campaign, self.campaign_id)
            assert campaign is not None
            progress = {p.id: p for p in report.step_progress(session, self.campaign_id)}
            steps = session.scalars(select(PlanStep).where(PlanStep.campaign_id == self.campaign_id)).all()
            day = (self.runtime.clock.now() - (campaign.launched_at or self.runtime.clock.now())).total_seconds() / 86_400
            for step in steps:
                p = progress[step.id]
                shown = f"{step.status}:{p.sent}:{p.skipped}:{p.queued}"
                if step.status == "pending" or self.steps.get(step.id) == shown:
                    continue
                self.steps[step.id] = shown
                skipped = f", skipped {p.skipped} ({', '.join(f'{k} {v}' for k, v in p.skipped_by_reason.items())})" if p.skipped else ""
                waiting = f", waiting {p.queued}" if p.queued else ""
                what = "the campaign closed: nothing more is sent, late answers still count" if step.step == "close" else f"sent {p.sent}{skipped}{waiting}"
                self.console.print(f"[dim]day {day:5.1f}[/]  [bold]{step.key:<12}[/] {what}")
            summary_done = any(s.step == "summary" and s.status in ("dispatched", "done") for s in steps)
            done = report.summary(session, campaign) if campaign.status == "closed" and summary_done and not self.finished.is_set() else None
        if done is not None:  # outside the session: on SQLite it holds the write lock the clock and the link need
            self._finish(done)

    def _finish(self, summary: report.Summary) -> None:
        headline = summary.headline
        score = "n/a" if headline.score is None else f"{headline.score:+.0f}"
        self.console.print(f"\n[bold green]Demo finished.[/] NPS {score} from {headline.responses} answers "
                           f"({', '.join(f'{k} {v}' for k, v in headline.by_category.items())}); {summary.recipients} contacts invited.")
        for name, url in {**self.urls, "sign in": self._console_link()}.items():
            self.console.print(f"  {name:<12} {url}", soft_wrap=True)
        self.console.print("The clock runs at normal speed again; Pulse keeps running for you to look around. Ctrl-C stops it.")
        self.finished.set()

    def _console_link(self) -> str:
        """Back to real time (sign-in links and sessions expire by the clock), then a one-time console link."""
        clock = self.runtime.clock
        assert isinstance(clock, DatabaseClock)
        clock.set(clock.now(), speed=1.0)
        now = clock.now()
        with self.runtime.sessions() as session, session.begin():
            member = first_admin(session, email=DEMO_ADMIN, now=now)
            if member is None:
                return "pulse console-link <your email>"
            secret = issue_sign_in_link(session, member=member, now=now, ttl=timedelta(hours=1))
        return f"{sign_in_url(self.runtime, secret)}  (once, within an hour, as {DEMO_ADMIN})"
