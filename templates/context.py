"""What each step's template receives, one dataclass per purpose.

``TemplateRenderer.render`` takes one of these (or a plain mapping with the
same names) and adds ``lang`` (``en`` or ``de``: the shipped language in use,
for the locale-aware filters and the partials). Settings and secrets are never
part of a context, so no template can print them. Dates are ``date`` objects,
formatted in the template with the ``date`` filter; money-free figures with
``number`` / ``percent`` / ``signed``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from templates.keys import CONVERSATION_STEPS, INTERNAL_STEPS, resolve_language


@dataclass(frozen=True)
class Scale:
    """The answer scale as the customer sees it: NPS 0–10, CSAT 1–5, CES 1–7."""

    min: int
    max: int
    low_label: str  # under the lowest value, e.g. "Not at all likely"
    high_label: str  # under the highest value, e.g. "Extremely likely"

    @property
    def points(self) -> tuple[int, ...]:
        return tuple(range(self.min, self.max + 1))


@dataclass(frozen=True, kw_only=True)
class SurveyContext:
    """Customer steps: pre_notice, invite, reminder, thank_you_<category>,
    thank_you_unanswered, you_said_we_did — on email, sms and in_app."""

    recipient: Mapping[str, Any]  # recipient_placeholders() or recipient_values(...)
    company_name: str
    campaign_name: str
    kind: str  # "nps", "csat" or "ces"
    question: str  # the survey question (default_question gives the usual wording)
    follow_up_question: str  # asked after the score, e.g. "What is the main reason …?"
    scale: Scale
    deadline: date  # the last day answers are asked for (the campaign closes after it)
    sender_name: str  # the sign-off, e.g. "The Acme Customer Success team"
    send_date: date | None = None  # pre_notice: the day the invite goes out
    reminder_number: int = 0  # reminder: 1, 2, …
    final_reminder: bool = False  # reminder: the last one before the deadline
    owner_name: str | None = None  # thank-yous: the account owner who will follow up
    # thank-yous: someone is told about a bad answer (owner, team or Slack), so the text may promise a call
    follow_up_promised: bool = True
    review_link: str | None = None  # promoter/satisfied/easy thank-yous: where to leave a review
    you_said_we_did_text: str = ""  # you_said_we_did: ops' text, paragraphs split by blank lines
    you_said_we_did_url: str | None = None  # you_said_we_did: a page with the full text (SMS)


@dataclass(frozen=True, kw_only=True)
class ConversationContext:
    """SMS replies: follow_up_question, clarify, thanks_comment, help, opted_out, opted_in."""

    company_name: str
    support_contact: str  # HELP must name where to get help (carrier rules): email or URL
    scale: Scale | None = None  # clarify: which numbers count as an answer
    follow_up_question: str | None = None  # follow_up_question: asked after a score


@dataclass(frozen=True, kw_only=True)
class KickoffContext:
    """Internal kickoff (email, slack): tell the team a survey is coming so they can help."""

    company_name: str
    campaign_name: str
    kind: str
    question: str
    send_date: date  # the invite day (T)
    deadline: date  # the last day answers are asked for
    audience_size: int  # contacts selected
    excluded_count: int  # contacts excluded (fatigue, opt-outs, rules)
    campaign_url: str  # the campaign dashboard


@dataclass(frozen=True)
class ChannelCount:
    channel: str  # "email", "sms", "in_app"
    sent: int
    answered: int


@dataclass(frozen=True)
class CategoryCount:
    category: str  # "promoter", "satisfied", "hard", …
    count: int


@dataclass(frozen=True, kw_only=True)
class SummaryContext:
    """Internal closing summary (email, slack): the headline figures."""

    company_name: str
    campaign_name: str
    kind: str
    score: float  # NPS: -100..100; CSAT: share satisfied 0..1; CES: mean score 1..7
    share_easy: float | None = None  # CES only: share of easy answers, 0..1
    recipients: int
    responses: int
    response_rate: float  # 0..1
    comments: int  # responses with a comment
    channels: Sequence[ChannelCount] = field(default_factory=tuple)
    categories: Sequence[CategoryCount] = field(default_factory=tuple)
    report_url: str  # the read-only report (a share link: no sign-in needed)
    margin: float | None = None  # ± at 95 %, in the score's unit (CSAT: 0..1 like score)
    no_answers: bool = False  # nobody answered: the headline says so, never "NPS 0"
    account_coverage: float | None = None  # share of invited accounts with at least one score, 0..1
    comment_rate: float | None = None  # share of answers with a comment, 0..1
    improved: int = 0  # contacts whose category rose since their previous answer of this kind
    worse: int = 0
    at_risk: int = 0  # low scores whose account renews within 90 days
    advocates: int = 0  # promoters (or the kind's best category) with a comment
    upsell: int = 0  # promoters renewing within 120 days
    themes: Sequence[str] = field(default_factory=tuple)  # recurring phrases in comments
    results_url: str | None = None  # the console's results page (team sign-in)


@dataclass(frozen=True, kw_only=True)
class DetractorAlertContext:
    """Internal alert for a low score (NPS detractor, CSAT unsatisfied, CES hard)."""

    company_name: str
    campaign_name: str
    kind: str
    category: str  # "detractor", "unsatisfied" or "hard"
    score: int
    scale: Scale
    comment: str  # the customer's words, may be empty; escaped in HTML and Slack
    contact_name: str
    contact_email: str
    account_name: str
    tier: str | None = None
    renewal_date: date | None = None
    owner_name: str | None = None  # None: the task goes round robin
    link: str  # the response and its follow-up task


ContextType = (
    type[SurveyContext]
    | type[ConversationContext]
    | type[KickoffContext]
    | type[SummaryContext]
    | type[DetractorAlertContext]
)


def context_type(step: str) -> ContextType:
    """The dataclass documenting what ``step``'s templates receive."""
    if step in CONVERSATION_STEPS:
        return ConversationContext
    if step in INTERNAL_STEPS:
        return {
            "kickoff": KickoffContext,
            "summary": SummaryContext,
            "detractor_alert": DetractorAlertContext,
        }[step]
    return SurveyContext


def context_names(step: str | None = None) -> frozenset[str]:
    """The variable names a template for ``step`` may use (every step's when None)."""
    types: tuple[ContextType, ...] = (
        (context_type(step),)
        if step
        else (
            SurveyContext,
            ConversationContext,
            KickoffContext,
            SummaryContext,
            DetractorAlertContext,
        )
    )
    names = {f.name for t in types for f in fields(t)}
    return frozenset(names | {"lang"})


def as_mapping(context: Mapping[str, Any] | object) -> dict[str, Any]:
    """A context dataclass as a flat dict (nested values kept as they are)."""
    if isinstance(context, Mapping):
        return dict(context)
    return {f.name: getattr(context, f.name) for f in fields(context)}  # type: ignore[arg-type]


_QUESTIONS = {
    "en": {
        "nps": "How likely are you to recommend {company} to a friend or colleague?",
        "csat": "How satisfied are you with {company}?",
        "ces": "How easy was it to get what you needed from {company}?",
        "follow_up": "What is the main reason for your score?",
    },
    "de": {
        "nps": "Wie wahrscheinlich ist es, dass Sie {company} einem Freund oder Kollegen empfehlen?",
        "csat": "Wie zufrieden sind Sie mit {company}?",
        "ces": "Wie einfach war es, bei {company} zu bekommen, was Sie brauchten?",
        "follow_up": "Was ist der wichtigste Grund für Ihre Bewertung?",
    },
}

_SCALES = {
    "en": {
        "nps": Scale(0, 10, "Not at all likely", "Extremely likely"),
        "csat": Scale(1, 5, "Very dissatisfied", "Very satisfied"),
        "ces": Scale(1, 7, "Very difficult", "Very easy"),
    },
    "de": {
        "nps": Scale(0, 10, "Überhaupt nicht wahrscheinlich", "Äußerst wahrscheinlich"),
        "csat": Scale(1, 5, "Sehr unzufrieden", "Sehr zufrieden"),
        "ces": Scale(1, 7, "Sehr schwierig", "Sehr einfach"),
    },
}


_SIGNATURES = {
    "en": "The {company} Customer Success team",
    "de": "Ihr Customer-Success-Team von {company}",
}


def default_sender_name(locale: str, *, company_name: str) -> str:
    """Who signs customer emails when nobody set it for the locale, in its language."""
    return _SIGNATURES[resolve_language(locale)].format(company=company_name)


def default_question(kind: str, locale: str, *, company_name: str) -> str:
    """The usual wording of a kind's question, for campaigns that don't set their own."""
    return _QUESTIONS[resolve_language(locale)][kind].format(company=company_name)


def default_follow_up_question(locale: str) -> str:
    return _QUESTIONS[resolve_language(locale)]["follow_up"]


def default_scale(kind: str, locale: str) -> Scale:
    """The kind's scale with its end labels in the locale's language."""
    return _SCALES[resolve_language(locale)][kind]
