"""Realistic example contexts per key: for previews, the editor's trial render and tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from templates.context import (
    CategoryCount,
    ChannelCount,
    ConversationContext,
    DetractorAlertContext,
    KickoffContext,
    SummaryContext,
    SurveyContext,
    context_type,
    default_follow_up_question,
    default_question,
    default_scale,
)
from templates.keys import CATEGORIES, TemplateKey, resolve_language
from templates.recipient import recipient_placeholders, recipient_values

COMPANY = "Acme Analytics"

_WE_DID = {
    "en": (
        "You told us that exports were too slow. Since June, reports export in seconds.\n\n"
        "You asked for a German interface. It is live for every account today."
    ),
    "de": (
        "Sie haben uns gesagt, dass Exporte zu langsam waren. Seit Juni dauern sie nur Sekunden.\n\n"
        "Sie wollten eine deutsche Oberfläche. Sie ist ab heute für alle Konten verfügbar."
    ),
}


def sample_recipient(locale: str, *, placeholders: bool = True) -> Any:
    if placeholders:
        return recipient_placeholders()
    return recipient_values(
        {
            "first_name": "Ana",
            "name": "Ana Lima",
            "answer_url": "https://pulse.example.com/r/eyJlcCI6MTIzfQ",
            "unsubscribe_url": "https://pulse.example.com/u/eyJlcCI6MTIzfQ",
        },
        locale=locale,
    )


def sample_context(key: TemplateKey, *, placeholders: bool = True) -> Any:
    """A full context for ``key``'s step, with every optional field set."""
    lang = resolve_language(key.locale)
    kind_type = context_type(key.step)
    scale = default_scale(key.kind, lang)
    if kind_type is ConversationContext:
        return ConversationContext(
            company_name=COMPANY,
            support_contact="help@acme-analytics.com",
            scale=scale,
            follow_up_question=default_follow_up_question(lang),
        )
    if kind_type is KickoffContext:
        return KickoffContext(
            company_name=COMPANY,
            campaign_name="NPS Q3 2026",
            kind=key.kind,
            question=default_question(key.kind, lang, company_name=COMPANY),
            send_date=date(2026, 8, 3),
            deadline=date(2026, 8, 14),
            audience_size=1250,
            excluded_count=87,
            campaign_url="https://pulse.example.com/console/campaigns/42",
        )
    if kind_type is SummaryContext:
        return SummaryContext(
            company_name=COMPANY,
            campaign_name="NPS Q3 2026",
            kind=key.kind,
            score={"nps": 42.0, "csat": 0.87, "ces": 5.6}[key.kind],
            share_easy=0.72 if key.kind == "ces" else None,
            recipients=1250,
            responses=412,
            response_rate=412 / 1250,
            comments=188,
            channels=(ChannelCount("email", 900, 260), ChannelCount("sms", 350, 152)),
            categories=tuple(
                CategoryCount(c, n) for c, n in zip(CATEGORIES[key.kind], (61, 102, 249))
            ),
            report_url="https://pulse.example.com/share/sample-report-link",
            margin={"nps": 4.6, "csat": 0.031, "ces": 0.12}[key.kind],
            account_coverage=0.64, comment_rate=0.46, improved=31, worse=12, at_risk=7, advocates=54, upsell=19,
            themes=("onboarding", "support response time", "pricing"),
            results_url="https://pulse.example.com/console/campaigns/42/results",
        )
    if kind_type is DetractorAlertContext:
        return DetractorAlertContext(
            company_name=COMPANY,
            campaign_name="NPS Q3 2026",
            kind=key.kind,
            category=CATEGORIES[key.kind][0],
            score=scale.min + 1,
            scale=scale,
            comment="Support took a week to answer & nobody called back.",
            contact_name="Jonas Becker",
            contact_email="jonas.becker@example.de",
            account_name="Becker Logistik GmbH",
            tier="Enterprise",
            renewal_date=date(2026, 11, 30),
            owner_name="Dana Smith",
            link="https://pulse.example.com/responses/9876",
        )
    return SurveyContext(
        recipient=sample_recipient(key.locale, placeholders=placeholders),
        company_name=COMPANY,
        campaign_name="NPS Q3 2026",
        kind=key.kind,
        question=default_question(key.kind, lang, company_name=COMPANY),
        follow_up_question=default_follow_up_question(lang),
        scale=scale,
        deadline=date(2026, 8, 14),
        sender_name="Dana Smith, Acme Analytics",
        send_date=date(2026, 8, 3),
        reminder_number=1,
        final_reminder=False,
        owner_name="Dana Smith",
        review_link="https://www.g2.com/products/acme-analytics/reviews",
        you_said_we_did_text=_WE_DID[lang],
        you_said_we_did_url="https://pulse.example.com/news/acme-q3",
    )
