"""The `pulse` command: run the service, start workers, migrate, import, manage keys."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from api.cli_common import console, fail, runtime_or_exit, settings_or_exit
from api.cli_ops import campaigns_app, status
from campaigns.access.models import Role
from dispatcher.runtime.logs import configure_logging
from dispatcher.runtime.settings import Settings, SettingsError, load_settings

# Plain help: the rich layout of this Typer version prints a type column even for --help ("--help <bool>").
app = typer.Typer(help="Pulse: multichannel survey dispatch.", no_args_is_help=True, add_completion=False, rich_markup_mode=None)
import_app = typer.Typer(help="Import contacts or accounts from a CSV file.", no_args_is_help=True, rich_markup_mode=None)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(import_app, name="import")
app.add_typer(keys_app, name="keys")

def _migrate(settings: Settings) -> str | None:
    from campaigns.migrate import UnsupportedDatabase, current_revision, upgrade

    try:
        upgrade(settings.database_url)
        return current_revision(settings.database_url)
    except UnsupportedDatabase as exc:
        fail(f"{exc}; point PULSE_DATABASE_URL at a newer server.")
    except Exception as exc:  # a wrong URL or an unreachable server: say which and what to do
        fail(f"could not migrate the database at PULSE_DATABASE_URL ({exc.__class__.__name__}: {str(exc).splitlines()[0]}).\n"
             "Check that the server is running and the URL is right.")


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (safe to run again)."""
    settings = settings_or_exit()
    revision = _migrate(settings)
    console.print(f"database at revision [bold]{revision}[/]")


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    demo: Annotated[bool, typer.Option(help="seed a demo base and run a campaign on an accelerated clock")] = False,
    day_seconds: Annotated[float, typer.Option(help="with --demo: real seconds per plan day")] = 4.0,
) -> None:
    """Run the API with an in-process worker and scheduler: one process, nothing else needed."""
    import uvicorn

    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    if demo:
        overrides["clock"] = "database"
        overrides["tick_seconds"] = day_seconds / 24  # an hour of plan time per tick: no sending window is missed
        overrides.update({k: v for k, v in _demo_place().items() if not (k == "port" and port)})
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc))
    _check_port_free(settings.host, settings.port, demo=demo)  # before the first admin key, which is shown only once
    _migrate(settings)

    from api.app import create_app
    from dispatcher.runtime.core import build_runtime, freeze_start_up_objects

    configure_logging(json=settings.json_logs, level=settings.log_level)
    if demo:
        logging.getLogger("dispatcher").setLevel("WARNING")  # the demo tells its own story in the terminal
    runtime = build_runtime(settings)
    first_key = _first_admin_key(runtime)
    url = f"http://{settings.host}:{settings.port}"
    if demo:
        from dispatcher.runtime.demo import seed_demo
        from dispatcher.runtime.demo_customers import DemoCustomers

        console.print(f"[bold]Demo[/] database: {settings.database_url.removeprefix('sqlite:///')}, outbox: {settings.outbox_dir}/ "
                      "(its own: the campaigns of `make run` are not touched)", soft_wrap=True)
        campaign_id = seed_demo(runtime, console=console, day_seconds=day_seconds)
        DemoCustomers(runtime, campaign_id, console, urls={
            "outbox": f"{url}/outbox", "results": f"{url}/console/campaigns/{campaign_id}/results",
            "campaign": f"{url}/console/campaigns/{campaign_id}", "follow-ups": f"{url}/console/follow-ups",
            "API": f"{url}/v1/campaigns/{campaign_id}", "API docs": f"{url}/docs",
        }).start()
    # soft_wrap: lines a user copies (the key, the curl command) must not be broken.
    console.print(f"\n[bold green]Pulse is running[/] at {url}  (API docs: {url}/docs, outbox: {url}/outbox)", soft_wrap=True)
    # `pulse console-link` in another terminal reads ./pulse.db, not the demo's database: the demo prints its own link.
    sign_in = "a sign-in link comes when the demo ends" if demo else "first sign-in link: .venv/bin/pulse console-link you@example.com"
    console.print(f"Console: {url}/console  ({sign_in})", soft_wrap=True)
    if first_key:
        console.print(f"First admin API key (shown once, keep it): [bold]{first_key}[/]", soft_wrap=True)
        console.print(f"Try: curl -H 'Authorization: Bearer {first_key}' {url}/v1/contacts\n", soft_wrap=True)
    # log_config=None: uvicorn's access and error lines go through Pulse's logging (JSON in production, tokens redacted).
    app = create_app(settings, runtime=runtime)
    freeze_start_up_objects()
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None)


def _check_port_free(host: str, port: int, *, demo: bool = False) -> None:
    """Fail with what to do when another process (an earlier ``make run``?) holds the port; the
    command it suggests is the one that was run (``make demo`` for the demo).

    Every address the host names is probed as asyncio binds it for uvicorn (passive, an IPv6
    socket IPv6-only, SO_REUSEADDR), so a setup uvicorn accepts is never refused here."""
    import socket

    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc}. Set PULSE_HOST to an address of this machine (e.g. 127.0.0.1).")
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a port in TIME_WAIT is free
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                make, flag = ("make demo", "--demo ") if demo else ("make run", "")
                fail(f"port {port} on {host} is in use ({exc.strerror}): stop what holds it (another `{make}`?), "
                     f"or run on another port: PULSE_PORT={port + 14} {make}  (or: .venv/bin/pulse run {flag}--port {port + 14})")


def _demo_place() -> dict[str, object]:
    """The demo's own database and outbox under ./demo/, unless PULSE_DATABASE_URL / PULSE_OUTBOX_DIR say otherwise."""
    import os

    place: dict[str, object] = {}
    if "PULSE_DATABASE_URL" not in os.environ:
        Path("demo").mkdir(exist_ok=True)
        place["database_url"] = "sqlite:///./demo/pulse-demo.db"
    if "PULSE_OUTBOX_DIR" not in os.environ:
        place["outbox_dir"] = Path("demo/outbox")
    if "PULSE_PORT" not in os.environ:
        place["port"] = 8001  # beside `make run` on 8000
    return place


def _first_admin_key(runtime: object) -> str | None:
    from campaigns.access.service import count_active_keys, create_key
    from dispatcher.runtime.core import Runtime

    assert isinstance(runtime, Runtime)
    with runtime.sessions() as session, session.begin():
        if count_active_keys(session):
            return None
        return create_key(session, role=Role.ADMIN, name="first admin key", now=runtime.clock.now()).token


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="worker processes")] = 2,
    loglevel: Annotated[str, typer.Option()] = "info",
    metrics_port: Annotated[int | None, typer.Option(help="serve this worker's Prometheus metrics on this port (needs PROMETHEUS_MULTIPROC_DIR)")] = None,
) -> None:
    """Start a Celery worker (production: PULSE_WORKER=celery and a broker)."""
    from dispatcher.runtime.celery_app import make_celery
    from dispatcher.runtime.metrics import prepare_multiprocess_dir, serve_worker_metrics

    settings = settings_or_exit()
    configure_logging(json=settings.json_logs, level=loglevel)
    prepare_multiprocess_dir()
    if metrics_port:
        serve_worker_metrics(metrics_port)
    _keep_our_logging()
    celery = make_celery(settings)
    celery.worker_main(["worker", f"--concurrency={concurrency}", f"--loglevel={loglevel}"])


@app.command()
def beat(loglevel: Annotated[str, typer.Option()] = "info") -> None:
    """Start Celery beat, which runs the scheduler tick (run exactly one)."""
    from dispatcher.runtime.celery_app import make_celery

    settings = settings_or_exit()
    configure_logging(json=settings.json_logs, level=loglevel)
    _keep_our_logging()
    celery = make_celery(settings)
    schedule_file = Path(settings.outbox_dir).parent / ".celerybeat-schedule"
    celery.start(["beat", f"--loglevel={loglevel}", f"--schedule={schedule_file}"])


def _keep_our_logging() -> None:
    """Celery configures logging itself unless someone handles ``setup_logging``: ours is already set."""
    from celery.signals import setup_logging

    setup_logging.connect(lambda **_: None, weak=False)


def _import(kind: str, file: Path) -> None:
    from campaigns.people.csv_import import CsvRejected, import_csv

    if not file.exists():
        fail(f"{file} does not exist")
    runtime = runtime_or_exit()
    size = file.stat().st_size
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TextColumn("{task.fields[rows]:,} rows"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress, runtime.sessions() as session, file.open("rb") as stream:
        task = progress.add_task(f"importing {kind}", total=size, rows=0)
        try:
            result = import_csv(
                session, stream, kind=kind, now=runtime.clock.now(),  # type: ignore[arg-type]
                progress=lambda done, rows: progress.update(task, completed=done, rows=rows),
            )
            progress.update(task, description="committing")
            session.commit()
        except CsvRejected as exc:
            session.rollback()
            fail(f"{file}: {exc}. Nothing was imported.")
        progress.update(task, completed=size, description=f"imported {kind}")
    console.print(f"[green]{result.inserted:,} inserted, {result.updated:,} updated, {result.unchanged:,} unchanged[/], {len(result.errors):,} row errors")
    if result.errors:
        table = Table("row", "external id", "field", "reason", title="Rows not imported (fix them and import the file again)")
        for error in result.errors[:50]:
            table.add_row(str(error.row), error.external_id or "", error.field, error.reason)
        console.print(table)
        if len(result.errors) > 50:
            console.print(f"... and {len(result.errors) - 50:,} more")
    runtime.close()


@import_app.command("contacts")
def import_contacts(file: Annotated[Path, typer.Argument(help="CSV with a header: external_id, account_external_id, name, email, phone, ...")]) -> None:
    """Insert or update contacts by external id."""
    _import("contacts", file)


@import_app.command("accounts")
def import_accounts(file: Annotated[Path, typer.Argument(help="CSV with a header: external_id, name, segment, tier, ...")]) -> None:
    """Insert or update accounts by external id."""
    _import("accounts", file)


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="admin, ops, marketer or viewer")],
    name: Annotated[str, typer.Option(help="what the key is for")] = "",
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from campaigns.access.service import create_key

    runtime = runtime_or_exit()
    with runtime.sessions() as session, session.begin():
        new = create_key(session, role=role, name=name or f"{role.value} key", now=runtime.clock.now())
    console.print(f"{role.value} key (shown once, keep it): ", end="")
    print(new.token, file=sys.stdout, flush=True)
    runtime.close()


@app.command("console-link")
def console_link(email: Annotated[str, typer.Argument(help="the team member's email")]) -> None:
    """Print a one-time console sign-in link for a team member.

    When nobody is a console admin yet, an unknown email becomes the first admin."""
    from datetime import timedelta

    from campaigns.access.console import first_admin, issue_sign_in_link
    from dispatcher.loop.console_mail import sign_in_url
    from dispatcher.runtime.core import build_runtime

    settings = settings_or_exit()
    _migrate(settings)
    runtime = build_runtime(settings)
    with runtime.sessions() as session, session.begin():
        member = first_admin(session, email=email, now=runtime.clock.now())
        if member is None:
            runtime.close()
            fail(f"{email} is not a team member. Add them first (POST /v1/team), or sign in as an admin.")
        if not member.active:
            runtime.close()
            fail(f"{email} is no longer an active team member.")
        secret = issue_sign_in_link(session, member=member, now=runtime.clock.now(), ttl=timedelta(minutes=settings.console_link_minutes))
        role = member.console_role
    console.print(f"Sign-in link for {email} ({role}), usable once within {settings.console_link_minutes} minutes:")
    print(sign_in_url(runtime, secret), file=sys.stdout, flush=True)
    runtime.close()

app.command("status")(status)
app.add_typer(campaigns_app, name="campaigns")

if __name__ == "__main__":
    app()
