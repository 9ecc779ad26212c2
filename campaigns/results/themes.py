"""Recurring themes in comments, per language, found by YAKE (a keyword extractor with stopword lists).

YAKE scores candidate phrases in the text itself (no model, no download); each
theme is then counted in how many comments mention it, so a page can say
"pricing — 14 comments". Only the newest ``SAMPLE`` comments of a language are
read: themes are a summary, and this keeps the results page fast on a big campaign.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs.models import Response

SAMPLE = 400
TOP = 8
# Languages YAKE ships stopwords for that our customers use; others fall back to none ("noLang").
KNOWN = {"ar", "bg", "br", "cz", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "hi", "hr", "hu", "hy", "id", "it",
         "ja", "lt", "lv", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sv", "tr", "uk", "zh"}


@dataclass(frozen=True)
class Theme:
    phrase: str
    comments: int  # comments (of the sample) that mention it
    categories: dict[str, int]  # of those, how many per answer category

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def language_of(locale: str | None) -> str:
    return (locale or "en").replace("_", "-").split("-")[0].lower() or "en"


def themes_by_language(session: Session, *, campaign_id: int) -> dict[str, list[Theme]]:
    """For each language with comments: up to ``TOP`` themes, the most mentioned first."""
    rows = session.execute(
        select(Contact.locale, Response.comment, Response.category).join(Contact, Contact.id == Response.contact_id)
        .where(Response.campaign_id == campaign_id, Response.current.is_(True), Response.comment.is_not(None), Response.comment != "")
        .order_by(Response.created_at.desc()).limit(SAMPLE * 8)
    ).all()
    by_language: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for locale, comment, category in rows:
        language = language_of(locale)
        if len(by_language[language]) < SAMPLE:
            by_language[language].append((comment or "", category))
    return {language: extract(comments, language) for language, comments in sorted(by_language.items())}


def extract(comments: list[tuple[str, str]], language: str) -> list[Theme]:
    """Themes of ``comments`` (text, category) in ``language``; phrases found in one comment only are dropped."""
    # Imported here: yake (with networkx and segtok) is a fifth of a Celery worker's start-up, and only results read it.
    import yake

    extractor = yake.KeywordExtractor(lan=language if language in KNOWN else "noLang", n=2, top=TOP * 3, dedupLim=0.7)
    text = "\n".join(c.rstrip(".!? ") + "." for c, _ in comments)
    lowered = [(c.lower(), category) for c, category in comments]
    themes = []
    for phrase, _ in extractor.extract_keywords(text):
        needle = phrase.lower()
        categories: dict[str, int] = defaultdict(int)
        for comment, category in lowered:
            if needle in comment:
                categories[category] += 1
        mentions = sum(categories.values())
        if mentions >= 2:
            themes.append(Theme(phrase, mentions, dict(categories)))
    # Longest first among equals, then drop a phrase inside a kept one that the same comments mention
    # ("great" beside "great support"): one theme, not two.
    themes.sort(key=lambda t: (-t.comments, -len(t.phrase)))
    kept: list[Theme] = []
    for theme in themes:
        if not any(theme.phrase.lower() in k.phrase.lower() and theme.comments == k.comments for k in kept):
            kept.append(theme)
    return kept[:TOP]
