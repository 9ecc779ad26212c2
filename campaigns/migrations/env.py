"""Alembic environment: the URL comes from the caller (``campaigns.migrate``), never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from campaigns.db import make_engine
from campaigns.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:  # campaigns.migrate.alembic_config always sets it
        raise RuntimeError("the migrations run from campaigns.migrate, which gives them the database URL")
    engine = make_engine(url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
