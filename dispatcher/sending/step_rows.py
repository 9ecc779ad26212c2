"""Writing a batch's message rows in one statement: ``INSERT … SELECT`` over rows passed as one parameter.

The planner (``step_batch``) decides per episode only what the database cannot:
the medium (the channel chooser), the content id and the moment the window
opens. A batch of a thousand messages holds only a handful of distinct
decisions (medium, reason, estimates, content, window opening, or why it is
skipped), so each distinct decision is passed once and each message carries
only its episode id and the number of its decision: two integers per message
plus a few rows of decisions (``campaigns.db.rows_source``: one JSON parameter
each, read by ``jsonb_array_elements`` / ``json_each``). The
statement joins them to the episodes and contacts and derives the rest — the
message's idempotency key, its recipient from the chosen medium, its locale —
so the process never builds a row, nor a JSON document, per message.
``ON CONFLICT DO NOTHING`` on the idempotency key makes a batch run twice
write nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from campaigns.db import bound_time, rows_source

# (name, PostgreSQL type) of each column of one decision, in order.
DECISION = (
    ("state", "text"), ("medium", "text"), ("channel", "text"), ("channel_reason", "text"), ("channel_estimates", "text"),
    ("content_id", "integer"), ("not_before", "timestamptz"), ("skip_rule", "text"), ("skip_reason", "text"),
)
_MESSAGE = (("episode_id", "integer"), ("decision", "integer"))


@dataclass
class PlannedRows:
    """The planner's decisions for one batch: per message its episode and the number of its
    decision; each distinct decision once (a tuple in ``DECISION``'s order)."""

    episode_ids: list[int] = field(default_factory=list)
    chosen: list[int] = field(default_factory=list)  # per message: its decision's number
    decisions: list[tuple[Any, ...]] = field(default_factory=list)
    numbers: dict[tuple[Any, ...], int] = field(default_factory=dict)
    # The invites that take over their campaign's reservation: the reservation and the message's key.
    held: dict[str, list[Any]] = field(default_factory=lambda: {"entry_id": [], "message_key": []})

    def __len__(self) -> int:
        return len(self.episode_ids)

    def decision(self, *, state: str, medium: str | None = None, channel: str | None = None, channel_reason: str | None = None,
                 channel_estimates: str | None = None, content_id: int | None = None, not_before: datetime | None = None,
                 skip_rule: str | None = None, skip_reason: str | None = None) -> int:
        """The number of this decision (``channel_estimates`` already JSON), added if new."""
        return self._number((state, medium, channel, channel_reason, channel_estimates, content_id, not_before, skip_rule, skip_reason))

    def _number(self, values: tuple[Any, ...]) -> int:
        number = self.numbers.get(values)
        if number is None:
            number = self.numbers[values] = len(self.decisions)
            self.decisions.append(values)
        return number

    def add(self, episode_id: int, decision: int) -> int:
        """Append one message with decision number ``decision``; its position (to amend it if the budget refuses it)."""
        self.episode_ids.append(episode_id)
        self.chosen.append(decision)
        return len(self.episode_ids) - 1

    def skip(self, position: int, *, rule: str, reason: str) -> None:
        """The budget refused a planned message: skipped, keeping the medium it would have used."""
        _, medium, channel, channel_reason, estimates, *_ = self.decisions[self.chosen[position]]
        self.chosen[position] = self._number(("skipped", medium, channel, channel_reason, estimates, None, None, rule, reason))


def estimates_json(estimates: dict[str, float] | None) -> str | None:
    """A choice's estimates as stored on the message (``channel_estimates``)."""
    return json.dumps(estimates) if estimates is not None else None


_INSERT = """
INSERT INTO messages (idempotency_key, campaign_id, step_id, episode_id, contact_id, step, medium, channel, channel_reason,
                      channel_estimates, recipient, locale, content_id, substitutions, state, skip_rule, skip_reason, not_before,
                      attempts, created_at, updated_at)
SELECT 'episode:' || e.id || ':step:' || :step_id, :campaign_id, :step_id, e.id, e.contact_id, :step, d.medium, d.channel, d.channel_reason,
       {estimates}, CASE d.medium WHEN 'email' THEN c.email WHEN 'sms' THEN c.phone WHEN 'in_app' THEN c.external_id END,
       CASE WHEN d.medium IS NOT NULL THEN c.locale END, d.content_id, {empty}, d.state, d.skip_rule, d.skip_reason, d.not_before,
       0, :now, :now
FROM {messages}
JOIN {decisions} ON d.number = r.decision
JOIN episodes e ON e.id = r.episode_id
JOIN contacts c ON c.id = e.contact_id
WHERE e.id BETWEEN :first_episode_id AND :last_episode_id
ON CONFLICT (idempotency_key) DO NOTHING
"""


def insert_planned(session: Session, rows: PlannedRows, *, campaign_id: int, step_id: int, step: str, now: datetime) -> None:
    """Write the batch's message rows in one statement (skipping any already written)."""
    if not len(rows):
        return
    messages, message_params = rows_source(session, _MESSAGE, {"episode_id": rows.episode_ids, "decision": rows.chosen}, alias="r")
    columns = (("number", "integer"), *DECISION)
    listed = {name: [d[k] for d in rows.decisions] for k, (name, _) in enumerate(DECISION)}
    decisions, decision_params = rows_source(session, columns, {"number": list(range(len(rows.decisions))), **listed}, alias="d")
    postgres = session.get_bind().dialect.name == "postgresql"
    sql = _INSERT.format(messages=messages, decisions=decisions, estimates="CAST(d.channel_estimates AS jsonb)" if postgres else "d.channel_estimates",
                         empty="CAST('{}' AS jsonb)" if postgres else "'{}'")
    # The batch's id range as a plain filter: the planner reads those episodes by primary key
    # instead of hashing every episode of the table for each batch.
    session.execute(text(sql), {**message_params, **decision_params, "campaign_id": campaign_id, "step_id": step_id, "step": step,
                                "now": bound_time(session, now), "first_episode_id": min(rows.episode_ids), "last_episode_id": max(rows.episode_ids)})
