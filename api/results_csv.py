"""CSV exports of results: one row per answer, streamed from the database in chunks."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from fastapi.responses import StreamingResponse

from campaigns.db import make_session_factory
from campaigns.programs import service
from campaigns.programs.kinds import kind_named
from campaigns.programs.models import Campaign
from campaigns.results.people import AnswerRow, action_list, iter_answer_rows
from dispatcher.runtime.core import Runtime

COLUMNS = (
    "campaign_id", "campaign_name", "kind", "response_id", "answered_at", "score", "category", "comment", "medium",
    "contact_external_id", "contact_name", "contact_email", "contact_role", "locale",
    "account_external_id", "account_name", "segment", "tier", "renewal_on", "owner_email", "follow_up_state",
    "previous_score",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    # A comment such as "=HYPERLINK(...)" must not become a formula in a spreadsheet.
    return "'" + text if isinstance(value, str) and text.startswith(FORMULA_START) else text


def csv_lines(campaign: Campaign, rows: Iterable[AnswerRow]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(COLUMNS)
    yield flush()
    for count, row in enumerate(rows, 1):
        values = row.as_dict()
        writer.writerow([_cell(campaign.id), _cell(campaign.name), _cell(campaign.kind)] + [_cell(values[c]) for c in COLUMNS[3:]])
        if count % 500 == 0:
            yield flush()
    yield flush()


def _stream(runtime: Runtime, campaign_id: int, which: str | None) -> Iterator[str]:
    # Its own read-only session: the response streams after the route returned.
    with make_session_factory(runtime.engine, read_only=True)() as session:
        campaign = service.get_campaign(session, campaign_id)
        if which is None:
            rows = iter_answer_rows(session, campaign_id=campaign_id)
        else:
            rows = iter(action_list(session, campaign_id=campaign_id, kind=kind_named(campaign.kind), name=which, today=runtime.clock.now().date()))
        yield from csv_lines(campaign, rows)


def csv_response(runtime: Runtime, campaign_id: int, which: str | None, filename: str) -> StreamingResponse:
    return StreamingResponse(_stream(runtime, campaign_id, which), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})
