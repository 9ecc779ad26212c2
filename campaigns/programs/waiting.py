"""When a campaign's queued messages will go out, and why they wait.

Queued messages wait for their contact's sending window (``not_before`` is the
window's next opening in the contact's timezone), for a retry after a transient
error, or for the campaign to be resumed. This groups them by timezone and state
in one query and says, per group, when the next of them goes and why. The
campaign progress API and the console show it; so can a CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs.models import Campaign, Message
from campaigns.programs.window import DAYS, SendingWindow

WAITING_STATES = ("queued", "retrying")


@dataclass(frozen=True)
class WaitingGroup:
    timezone: str
    state: str  # queued or retrying
    messages: int
    goes_at: datetime | None  # when the first of them goes out (UTC); None while the campaign is paused
    local_time: str | None  # the same moment on the contacts' clock, e.g. "Tue 09:00 Asia/Tokyo"
    reason: str  # why they wait, in a sentence

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "goes_at": self.goes_at.isoformat() if self.goes_at else None}


def _window_text(window: SendingWindow) -> str:
    days = [DAYS[d] for d in sorted(window.days)]
    span = f"{days[0]}–{days[-1]}" if days == list(DAYS[DAYS.index(days[0]):DAYS.index(days[-1]) + 1]) and len(days) > 2 else ", ".join(days)
    return f"{window.hours} {span}"


def waiting_messages(session: Session, *, campaign: Campaign, now: datetime) -> list[WaitingGroup]:
    """Queued and retrying messages of ``campaign`` by contact timezone, with when and why they wait.

    Internal messages (no contact) are grouped under UTC. Read-only.
    """
    # A literal, not a bound parameter: PostgreSQL must see the same expression in SELECT and GROUP BY.
    zone = func.coalesce(Contact.timezone, literal_column("'UTC'"))
    rows = session.execute(
        select(zone, Message.state, func.count(Message.id), func.min(Message.not_before))
        .select_from(Message).outerjoin(Contact, Contact.id == Message.contact_id)
        .where(Message.campaign_id == campaign.id, Message.state.in_(WAITING_STATES))
        .group_by(zone, Message.state)
    ).all()
    window = SendingWindow.parse(campaign.sending_window or {})
    groups = []
    for timezone, state, count, earliest in rows:
        groups.append(_group(campaign, window, timezone, state, int(count), earliest, now))
    return sorted(groups, key=lambda g: (g.goes_at is None, g.goes_at or now, g.timezone))


def _group(campaign: Campaign, window: SendingWindow, timezone: str, state: str, count: int, earliest: datetime | None, now: datetime) -> WaitingGroup:
    start = max(earliest or now, now)
    hours = _window_text(window)
    if campaign.status == "paused":
        reason = "the campaign is paused" + (f" ({campaign.paused_reason})" if campaign.paused_reason else "") + \
                 f"; after it is resumed they go in the next sending window ({hours}, {timezone})"
        return WaitingGroup(timezone, state, count, None, None, reason)
    goes = window.next_open(start, timezone)
    local = goes.astimezone(ZoneInfo(timezone)).strftime("%a %d %b %H:%M") + f" {timezone}"
    if state == "retrying":
        reason = "a transient error at the provider; retried then"
    elif goes <= now:
        reason = "due now: the scheduler hands them over on its next tick"
    elif not window.contains(now, timezone):
        reason = f"outside sending hours in {timezone} ({hours}); they go when the window opens"
    else:
        reason = f"held until then (spread over the window or deferred by the fatigue budget); sending hours {hours}"
    return WaitingGroup(timezone, state, count, goes, local, reason)
