"""The baseline for bench_answers.py: an endpoint that only stores the answer.

    python bench/bare_answer_app.py <database url> <port>

Served the way ``pulse run`` serves Pulse (one uvicorn process, a sync FastAPI
route on the thread pool, SQLAlchemy sessions from ``campaigns.db``): POST
``/bare/{public_id}`` with ``score`` locks the episode, retires its current
answer, stores the new one, marks the episode answered, commits and answers 303.
No token, no page, no outbox row, nothing after.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Form
from fastapi.responses import RedirectResponse
from sqlalchemy import select, update

import campaigns.models  # noqa: F401 - every table, for the foreign keys
from campaigns.db import make_engine, make_session_factory
from campaigns.programs.kinds import kind_named
from campaigns.programs.models import Campaign, Episode, Response


def make_app(url: str) -> FastAPI:
    sessions = make_session_factory(make_engine(url))
    app = FastAPI()

    @app.post("/bare/{public_id}")
    def store(public_id: str, score: Annotated[int, Form()]) -> RedirectResponse:
        now = datetime.now(UTC)
        with sessions() as session:
            episode, kind = session.execute(
                select(Episode, Campaign.kind).join(Campaign, Campaign.id == Episode.campaign_id)
                .where(Episode.public_id == public_id).with_for_update(of=Episode)
            ).one()
            session.execute(update(Response).where(Response.episode_id == episode.id, Response.current.is_(True)).values(current=False))
            session.add(Response(
                episode_id=episode.id, campaign_id=episode.campaign_id, contact_id=episode.contact_id, kind=kind, score=score,
                category=kind_named(kind).category(score), medium="email", current=True, created_at=now,
            ))
            episode.answered_at, episode.state = episode.answered_at or now, "answered"
            session.commit()
        return RedirectResponse(f"{public_id}/thanks", status_code=303)

    return app


if __name__ == "__main__":
    uvicorn.run(make_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
