"""What every `pulse` command shares: the consoles, failing with a message, reading the settings,
opening the database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

from dispatcher.runtime.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from dispatcher.runtime.core import Runtime

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", soft_wrap=True)  # the commands it suggests must copy whole
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(f"{exc}\nFix the variable(s) above and run the command again.")


_NO_SCHEMA = ("the database at PULSE_DATABASE_URL ({url}) has no Pulse schema. Run this command in the folder where "
              "`make run` runs (its database is ./pulse.db there), or set PULSE_DATABASE_URL to Pulse's database, "
              "or create the schema with `pulse migrate`.")


def runtime_or_exit(settings: Settings | None = None) -> Runtime:
    """The runtime for a command that reads the database, once that database answers and has Pulse's
    schema; else what to check instead of a traceback (a server that is down, a wrong URL, or the
    command run outside the folder of `make run`, where the default ./pulse.db is)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from dispatcher.runtime.core import build_runtime

    settings = settings or settings_or_exit()
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") and not Path(url.database).exists():
        fail(_NO_SCHEMA.format(url=settings.database_url))  # before connecting, which would leave an empty file here
    runtime = build_runtime(settings)
    try:
        with runtime.engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        runtime.close()
        fail(f"cannot reach the database at PULSE_DATABASE_URL ({exc.__class__.__name__}: {str(exc).splitlines()[0]}).\n"
             "Check that the server is running and the URL is right.")
    if revision is None:
        runtime.close()
        fail(_NO_SCHEMA.format(url=runtime.engine.url.render_as_string(hide_password=True)))
    return runtime
