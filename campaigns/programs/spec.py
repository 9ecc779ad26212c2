"""Checking a campaign as a whole before it is stored: every rule names its field."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from campaigns.people.fields import FieldError, clean_email, clean_locale, clean_timezone
from campaigns.programs.audience import check_audience
from campaigns.programs.exclusions import check_exclusions
from campaigns.programs.kinds import kind_named
from campaigns.programs.plan import CONTINUOUS_PLAN, DEFAULT_PLAN, check_plan
from campaigns.programs.reach import MEDIA
from campaigns.programs.window import DEFAULT_WINDOW, SendingWindow

MODES = ("one_off", "continuous")
CHANNEL_CHOICES = ("learned", "ordered")


def _localized(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"en": value}
    if not isinstance(value, dict) or not all(isinstance(v, str) and v.strip() for v in value.values()):
        raise FieldError(field, "must be text, or an object of locale to text such as {\"en\": ..., \"de\": ...}")
    return {clean_locale(locale, f"{field}.{locale}"): text.strip() for locale, text in value.items()}


def aware(moment: datetime, zone: str) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))


def check_campaign(spec: dict[str, Any]) -> dict[str, Any]:
    """The campaign's columns from an API body, every part checked; raises ``FieldError``."""
    survey = spec.get("survey") or {}
    try:
        kind = kind_named(str(survey.get("kind", "")).lower())
    except ValueError as exc:
        raise FieldError("survey.kind", str(exc)) from None
    zone = clean_timezone(spec.get("timezone") or "UTC", "timezone")
    mode = spec.get("mode") or "one_off"
    if mode not in MODES:
        raise FieldError("mode", f"unknown mode {mode!r}; use one_off or continuous")
    period = spec.get("period_days")
    if mode == "continuous" and (not isinstance(period, int) or period < 1):
        raise FieldError("period_days", "a continuous program needs period_days, e.g. 90")
    plan = spec.get("plan")
    if plan is None:
        plan = CONTINUOUS_PLAN if mode == "continuous" else DEFAULT_PLAN
    steps = check_plan(plan)
    if mode == "continuous" and any(s.step in ("kickoff", "pre_notice", "summary") for s in steps):
        raise FieldError("plan", "a continuous program invites every day; kickoff, pre_notice and summary belong to one-off campaigns")
    window = spec.get("sending_window") or DEFAULT_WINDOW
    SendingWindow.parse(window)
    channels = spec.get("channels") or ["email"]
    for index, medium in enumerate(channels):
        if medium not in MEDIA:
            raise FieldError(f"channels[{index}]", f"unknown channel {medium!r}; use email, sms or in_app")
    if len(set(channels)) != len(channels):
        raise FieldError("channels", "lists a channel twice")
    channel_choice = spec.get("channel_choice") or "learned"
    if channel_choice not in CHANNEL_CHOICES:
        raise FieldError("channel_choice", f"unknown channel choice {channel_choice!r}; use learned or ordered")
    internal = spec.get("internal_recipients") or {}
    emails = [clean_email(e, f"internal_recipients.emails[{i}]") for i, e in enumerate(internal.get("emails") or [])]
    slack = internal.get("slack_webhook_url")
    if slack is not None and not (isinstance(slack, str) and slack.startswith("https://")):
        raise FieldError("internal_recipients.slack_webhook_url", "must be an https:// incoming-webhook URL")
    send_at = spec.get("send_at")
    deadline = survey.get("deadline")
    if isinstance(deadline, datetime):
        deadline = aware(deadline, zone)
    elif deadline is not None and not hasattr(deadline, "isoformat"):
        raise FieldError("survey.deadline", "must be a date")
    review_link = spec.get("review_link")
    if review_link is not None and not str(review_link).startswith(("https://", "http://")):
        raise FieldError("review_link", "must be a web address")
    return {
        "name": spec.get("name"),
        "kind": kind.name,
        "mode": mode,
        "period_days": period if mode == "continuous" else None,
        "survey": {
            "question": _localized(survey.get("question"), "survey.question"),
            # Empty when not given: each contact then gets the default in their own language.
            "follow_up_question": _localized(survey.get("follow_up_question"), "survey.follow_up_question"),
            "deadline": deadline.isoformat() if deadline is not None else None,
            "timezone": zone,
        },
        "audience": check_audience(spec.get("audience")),
        "exclusions": check_exclusions(spec.get("exclusions")),
        "plan": plan,
        "sending_window": window,
        "channels": channels,
        "channel_choice": channel_choice,
        "internal_recipients": {"emails": emails, "slack_webhook_url": slack},
        "review_link": review_link,
        "send_at": aware(send_at, zone) if isinstance(send_at, datetime) else None,
    }
