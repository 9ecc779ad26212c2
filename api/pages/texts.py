"""The words of the public pages, per shipped language (English for anything else)."""

from __future__ import annotations

from collections.abc import Mapping

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "answer_title": "Your feedback",
        "choose": "Choose a score",
        "send": "Send",
        "sending": "Sending…",
        "comment_hint": "Optional",
        "already": "You already answered {score}. Sending again replaces that answer.",
        "confirm": "Please press Send to confirm your answer.",
        "no_score": "Please choose a score first.",
        "too_long": "Your comment is too long; please keep it under {limit} characters.",
        "noscript": "Please turn on JavaScript to send your answer: it tells a person's answer from an automatic link check.",
        "thanks_title": "Thank you!",
        "thanks_body": "We received your answer: {score}. Your feedback goes straight to the team.",
        "change": "Changed your mind? Change your answer",
        "invalid_title": "This link doesn't work",
        "invalid_body": "Survey links stop working after a while, and a link copied in part doesn't work at all. If you'd like to tell us something, write to {support}.",
        "closed_title": "This survey is closed",
        "closed_body": "Thank you for wanting to answer. If you'd like to tell us something, write to {support}.",
        "unsub_title": "Unsubscribe from survey emails?",
        "unsub_body": "You will get no more survey emails from {company}.",
        "unsub_button": "Unsubscribe",
        "unsubscribed_title": "You are unsubscribed",
        "unsubscribed_body": "You will get no more survey emails from {company}. Changed your mind? Write to {support}.",
        "busy_title": "Too many requests",
        "busy_body": "Please try again in a minute.",
        "demo_title": "In-app survey demo",
        "demo_intro": "A pretend product page. The widget below asks this contact's pending in-app prompt.",
        "demo_contact": "Contact external id",
        "demo_show": "Show",
        "demo_unconfigured": "Set PULSE_IN_APP_PUBLISHABLE_KEY and PULSE_IN_APP_SECRET to try the widget.",
        "dismiss": "Close",
        "thanks_short": "Thank you for your feedback!",
    },
    "de": {
        "answer_title": "Ihr Feedback",
        "choose": "Wählen Sie eine Bewertung",
        "send": "Senden",
        "sending": "Wird gesendet…",
        "comment_hint": "Optional",
        "already": "Sie haben bereits mit {score} geantwortet. Erneutes Senden ersetzt diese Antwort.",
        "confirm": "Bitte bestätigen Sie Ihre Antwort mit „Senden“.",
        "no_score": "Bitte wählen Sie zuerst eine Bewertung.",
        "too_long": "Ihr Kommentar ist zu lang; bitte bleiben Sie unter {limit} Zeichen.",
        "noscript": "Bitte aktivieren Sie JavaScript, um Ihre Antwort zu senden: So unterscheiden wir Ihre Antwort von einer automatischen Link-Prüfung.",
        "thanks_title": "Vielen Dank!",
        "thanks_body": "Wir haben Ihre Antwort erhalten: {score}. Ihr Feedback geht direkt an das Team.",
        "change": "Doch anders entschieden? Antwort ändern",
        "invalid_title": "Dieser Link funktioniert nicht",
        "invalid_body": "Umfrage-Links funktionieren nur eine Zeit lang, und ein unvollständig kopierter Link funktioniert gar nicht. Wenn Sie uns etwas mitteilen möchten, schreiben Sie an {support}.",
        "closed_title": "Diese Umfrage ist beendet",
        "closed_body": "Danke, dass Sie antworten wollten. Wenn Sie uns etwas mitteilen möchten, schreiben Sie an {support}.",
        "unsub_title": "Von Umfrage-E-Mails abmelden?",
        "unsub_body": "Sie erhalten dann keine Umfrage-E-Mails von {company} mehr.",
        "unsub_button": "Abmelden",
        "unsubscribed_title": "Sie sind abgemeldet",
        "unsubscribed_body": "Sie erhalten keine Umfrage-E-Mails von {company} mehr. Doch anders entschieden? Schreiben Sie an {support}.",
        "busy_title": "Zu viele Anfragen",
        "busy_body": "Bitte versuchen Sie es in einer Minute erneut.",
        "demo_title": "In-App-Umfrage (Demo)",
        "demo_intro": "Eine gespielte Produktseite. Das Widget unten fragt die offene In-App-Umfrage dieses Kontakts ab.",
        "demo_contact": "Externe ID des Kontakts",
        "demo_show": "Anzeigen",
        "demo_unconfigured": "Setzen Sie PULSE_IN_APP_PUBLISHABLE_KEY und PULSE_IN_APP_SECRET, um das Widget auszuprobieren.",
        "dismiss": "Schließen",
        "thanks_short": "Vielen Dank für Ihr Feedback!",
    },
}


def texts_for(lang: str) -> Mapping[str, str]:
    return TEXTS.get(lang, TEXTS["en"])


def language_from_header(accept_language: str | None) -> str:
    """The first shipped language the browser asks for (pages that know no contact)."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in TEXTS:
            return code
    return "en"
