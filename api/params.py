"""Path and query parameters shared by the routers, bounded to what the database holds."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from campaigns.db import ID_MAX

ObjectId = Annotated[int, Path(ge=1, le=ID_MAX, description="the object's id")]
IdFilter = Annotated[int | None, Query(ge=1, le=ID_MAX)]
CampaignScope = Annotated[int | None, Query(ge=1, le=ID_MAX, description="a campaign's own text instead of everyone's")]
