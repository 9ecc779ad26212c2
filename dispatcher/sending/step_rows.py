"""Writing a batch's message rows in one statement: ``INSERT … SELECT`` over rows passed as arrays.

The planner (``step_batch``) decides per episode only what the database cannot:
the medium (the channel chooser), the content id and the moment the window
opens. Those few values travel as one array per column (``campaigns.db.rows_source``:
one JSON parameter, read by ``jsonb_array_elements`` / ``json_each``); the statement
joins them to the episodes and contacts and derives the rest — the message's
idempotency key, its recipient from the chosen medium, its locale — so the
process never builds a row dictionary per message. ``ON CONFLICT DO NOTHING``
on the idempotency key makes a batch run twice write nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from campaigns.db import bound_time, rows_source

# (name, PostgreSQL type) of each column the planner passes per message, in order.
PLANNED = (
    ("episode_id", "integer"), ("state", "text"), ("medium", "text"), ("channel", "text"), ("channel_reason", "text"),
    ("channel_estimates", "text"), ("content_id", "integer"), ("not_before", "timestamptz"),
    ("skip_rule", "text"), ("skip_reason", "text"),
)


@dataclass
class PlannedRows:
    """The planner's decisions for one batch, one list per column of ``PLANNED``."""

    columns: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name, _ in PLANNED})
    # The invites that take over their campaign's reservation: entry_id, message_key, medium.
    held: dict[str, list[Any]] = field(default_factory=lambda: {"entry_id": [], "message_key": [], "medium": []})

    def __len__(self) -> int:
        return len(self.columns["episode_id"])

    def add(self, episode_id: int, *, state: str, medium: str | None = None, channel: str | None = None, channel_reason: str | None = None,
            channel_estimates: dict[str, float] | None = None, content_id: int | None = None, not_before: datetime | None = None,
            skip_rule: str | None = None, skip_reason: str | None = None) -> int:
        """Append one message's decisions; its position (to amend it if the budget refuses it)."""
        values = (episode_id, state, medium, channel, channel_reason,
                  json.dumps(channel_estimates) if channel_estimates is not None else None, content_id, not_before, skip_rule, skip_reason)
        for (name, _), value in zip(PLANNED, values, strict=True):
            self.columns[name].append(value)
        return len(self) - 1

    def skip(self, position: int, *, rule: str, reason: str) -> None:
        """The budget refused a planned message: skipped, keeping the medium it would have used."""
        self.columns["state"][position] = "skipped"
        self.columns["skip_rule"][position] = rule
        self.columns["skip_reason"][position] = reason
        self.columns["content_id"][position] = None
        self.columns["not_before"][position] = None


_INSERT = """
INSERT INTO messages (idempotency_key, campaign_id, step_id, episode_id, contact_id, step, medium, channel, channel_reason,
                      channel_estimates, recipient, locale, content_id, substitutions, state, skip_rule, skip_reason, not_before,
                      attempts, created_at, updated_at)
SELECT 'episode:' || e.id || ':step:' || :step_id, :campaign_id, :step_id, e.id, e.contact_id, :step, r.medium, r.channel, r.channel_reason,
       {estimates}, CASE r.medium WHEN 'email' THEN c.email WHEN 'sms' THEN c.phone WHEN 'in_app' THEN c.external_id END,
       CASE WHEN r.medium IS NOT NULL THEN c.locale END, r.content_id, {empty}, r.state, r.skip_rule, r.skip_reason, r.not_before,
       0, :now, :now
FROM {source}
JOIN episodes e ON e.id = r.episode_id
JOIN contacts c ON c.id = e.contact_id
WHERE e.id BETWEEN :first_episode_id AND :last_episode_id
ON CONFLICT (idempotency_key) DO NOTHING
"""


def insert_planned(session: Session, rows: PlannedRows, *, campaign_id: int, step_id: int, step: str, now: datetime) -> None:
    """Write the batch's message rows in one statement (skipping any already written)."""
    if not len(rows):
        return
    source, params = rows_source(session, PLANNED, rows.columns)
    postgres = session.get_bind().dialect.name == "postgresql"
    sql = _INSERT.format(source=source, estimates="CAST(r.channel_estimates AS jsonb)" if postgres else "r.channel_estimates",
                         empty="CAST('{}' AS jsonb)" if postgres else "'{}'")
    # The batch's id range as a plain filter: the planner reads those episodes by primary key
    # instead of hashing every episode of the table for each batch.
    ids = rows.columns["episode_id"]
    session.execute(text(sql), {**params, "campaign_id": campaign_id, "step_id": step_id, "step": step, "now": bound_time(session, now),
                                "first_episode_id": min(ids), "last_episode_id": max(ids)})
