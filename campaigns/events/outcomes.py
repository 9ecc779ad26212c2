"""What one provider event means for Pulse: a message state, a suppression, a bounce.

Pure mapping, unit-tested without HTTP or database. SendGrid's names are those
of its Event Webhook reference; Twilio's are the ``MessageStatus`` values of
status callbacks and the ``ErrorCode`` Twilio attaches to a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

# SendGrid drops a message without trying when the address is on one of its own
# suppression lists; mirror that list here so we stop planning messages to it.
_DROP_REASONS = {
    "bounced address": "bounced",
    "invalid": "bounced",
    "unsubscribed address": "unsubscribed",
    "spam reporting address": "spam_report",
}
# Twilio delivery errors that say the number will never take our SMS.
TWILIO_PERMANENT = {
    "21610": "opted_out",  # the recipient replied STOP to this sender
    "30005": "bounced",  # unknown destination handset: the number does not exist
    "30006": "bounced",  # landline or unreachable carrier: it cannot receive SMS
}


class Outcome(NamedTuple):  # a tuple: a batch makes thousands
    target: str | None = None  # the message state this event moves to
    suppress: str | None = None  # suppression reason for the address, for good
    bounced: bool = False  # a delivery failure, counted against the medium
    error_code: str | None = None
    detail: str | None = None


def storable(value: str) -> str:
    """Text a database column can hold: no NUL, no lone surrogate (plain ASCII, the usual case, costs one check)."""
    if value.isascii():
        return value.replace("\x00", "") if "\x00" in value else value
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _text(value: Any) -> str | None:
    return storable(str(value))[:2000] if value not in (None, "") else None


_NOTHING, _SENT, _DELIVERED, _OPENED = Outcome(), Outcome(target="sent"), Outcome(target="delivered"), Outcome(target="opened")


def sendgrid_outcome(event: Mapping[str, Any]) -> Outcome:
    """The meaning of one SendGrid event (unknown events mean nothing)."""
    name = event.get("event")
    if name == "processed":
        return _SENT
    if name == "deferred":  # a temporary refusal; SendGrid keeps trying for 72 hours
        return Outcome(detail=_text(event.get("response")))
    if name == "delivered":
        return Outcome(target="delivered", detail=_text(event.get("response")))
    if name == "open":
        # Apple Mail Privacy Protection fetches every image on delivery: a machine
        # open proves delivery, not that anybody read the message.
        return _DELIVERED if event.get("sg_machine_open") else _OPENED
    if name == "click":
        return Outcome(target="clicked", detail=_text(event.get("url")))
    if name == "bounce":
        # type "blocked" is a refusal of this message (content, reputation), not
        # of the address; only a true bounce suppresses it.
        hard = event.get("type", "bounce") == "bounce"
        return Outcome(
            target="failed", suppress="bounced" if hard else None, bounced=True,
            error_code=(_text(event.get("status")) or "bounce")[:60], detail=_text(event.get("reason")),
        )
    if name == "dropped":
        reason = str(event.get("reason") or event.get("type") or "")
        suppress = _DROP_REASONS.get(reason.strip().lower())
        return Outcome(target="failed", suppress=suppress, bounced=suppress == "bounced", error_code="dropped", detail=_text(reason))
    if name == "spamreport":
        return Outcome(suppress="spam_report")
    if name in ("unsubscribe", "group_unsubscribe"):
        return Outcome(suppress="unsubscribed")
    return _NOTHING


def twilio_outcome(status: str, error_code: str | None) -> Outcome:
    """The meaning of one Twilio status callback."""
    status = status.lower()
    if status == "sent":
        return Outcome(target="sent")
    if status == "delivered":
        return Outcome(target="delivered")
    if status == "read":  # WhatsApp and RCS read receipts
        return Outcome(target="opened")
    if status in ("undelivered", "failed"):
        code = error_code or None
        return Outcome(
            target="failed", suppress=TWILIO_PERMANENT.get(code or ""), bounced=True,
            error_code=code or status, detail=f"Twilio reported the SMS {status}" + (f" (error {code})" if code else ""),
        )
    if status == "canceled":
        return Outcome(target="failed", error_code="canceled", detail="Twilio canceled the scheduled SMS")
    return Outcome()  # queued, accepted, scheduled, sending: nothing we did not know
