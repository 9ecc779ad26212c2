"""What names a template: channel, survey kind, plan step and locale.

Steps for the thank-you are split by answer category (``thank_you_promoter``,
``thank_you_easy`` …) because what we say to a promoter and to a detractor
differs, not only a word in it; ``thank_you_unanswered`` goes out at close to
everyone who was not thanked yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SURVEY_CHANNELS = ("email", "sms", "in_app")
INTERNAL_CHANNELS = ("email", "slack")
CHANNELS = ("email", "sms", "in_app", "slack")
KINDS = ("nps", "csat", "ces")
LANGUAGES = ("en", "de")  # languages shipped as files; anything else falls back to English
DEFAULT_LANGUAGE = "en"

# The answer categories of DESIGN.md, lowest score first.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "nps": ("detractor", "passive", "promoter"),
    "csat": ("unsatisfied", "satisfied"),
    "ces": ("hard", "neutral", "easy"),
}

# Steps of the plan that reach customers on every survey channel.
SURVEY_STEPS = ("pre_notice", "invite", "reminder", "thank_you_unanswered", "you_said_we_did")
# Replies inside an SMS conversation (Twilio inbound), sms only.
CONVERSATION_STEPS = (
    "follow_up_question",
    "clarify",
    "thanks_comment",
    "help",
    "opted_out",
    "opted_in",
)
# Messages to the CS team, on email and slack.
INTERNAL_STEPS = ("kickoff", "summary", "detractor_alert")

# Which parts a rendered message is made of, per channel (the file suffixes).
CHANNEL_PARTS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "txt", "html"),
    "sms": ("txt",),
    "in_app": ("txt",),
    "slack": ("mrkdwn",),
}
PARTS = ("subject", "txt", "html", "mrkdwn")


def thank_you_step(category: str) -> str:
    """The thank-you step for an answer category, e.g. ``thank_you_promoter``."""
    return f"thank_you_{category}"


def steps_for(channel: str, kind: str) -> tuple[str, ...]:
    """Every step a (channel, kind) has a default template for."""
    steps: list[str] = []
    if channel in SURVEY_CHANNELS:
        steps += SURVEY_STEPS
        steps += [thank_you_step(c) for c in CATEGORIES[kind]]
    if channel == "sms":
        steps += CONVERSATION_STEPS
    if channel in INTERNAL_CHANNELS:
        steps += INTERNAL_STEPS
    return tuple(steps)


@dataclass(frozen=True, order=True)
class TemplateKey:
    """One editable message: e.g. ``TemplateKey("email", "nps", "invite", "de-AT")``.

    ``locale`` is what the contact has (``de-AT``, ``de_DE``, ``en``, ``fr``);
    the renderer falls back along ``locale_chain``.
    """

    channel: str
    kind: str
    step: str
    locale: str

    def with_locale(self, locale: str) -> TemplateKey:
        return TemplateKey(self.channel, self.kind, self.step, locale)


_LOCALE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z0-9]{2,8}))?")


def normalize_locale(locale: str) -> str:
    """``de_at`` → ``de-AT``, ``EN`` → ``en``; anything unparseable → ``en``."""
    match = _LOCALE.match(locale.strip())
    if not match:
        return DEFAULT_LANGUAGE
    language, region = match.group(1).lower(), match.group(2)
    return f"{language}-{region.upper()}" if region else language


def locale_chain(locale: str) -> tuple[str, ...]:
    """Where to look for a template, most specific first: ``de-AT`` → (de-AT, de, en)."""
    exact = normalize_locale(locale)
    chain = [exact, exact.split("-")[0], DEFAULT_LANGUAGE]
    return tuple(dict.fromkeys(chain))


def resolve_language(locale: str) -> str:
    """The shipped language used for a locale: ``de-AT`` → ``de``, ``fr`` → ``en``."""
    for candidate in locale_chain(locale):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE
