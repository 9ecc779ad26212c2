"""`pulse status` and `pulse campaigns watch ID`: what an operator looks at during the day."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from api.cli_common import console, fail, runtime_or_exit

campaigns_app = typer.Typer(help="Follow campaigns from the terminal.", no_args_is_help=True, rich_markup_mode=None)


def status(as_json: Annotated[bool, typer.Option("--json", help="print the same JSON as GET /v1/status")] = False) -> None:
    """Workers alive, queue depth, the oldest waiting message and why, steps due in 24 h, provider errors in the last hour."""
    from dispatcher.runtime.status import operations_status

    runtime = runtime_or_exit()
    try:
        with runtime.sessions() as session:
            report = operations_status(runtime, session)
    finally:
        runtime.close()
    if as_json:
        print(json.dumps(report.as_dict(), default=str, indent=2))
        return
    workers = report.workers
    alive = ", ".join(workers.alive) or "[bold red]none[/]"
    console.print(f"[bold]Pulse status[/] at {report.now:%Y-%m-%d %H:%M} UTC")
    console.print(f"workers ({workers.mode}): {alive}" + (f"  [dim]{workers.detail}[/]" if workers.detail else ""))
    if workers.broker_queue is not None:
        console.print(f"tasks waiting in the broker: {workers.broker_queue}")
    queue = ", ".join(f"{step} {count}" for step, count in report.queue_by_step.items()) or "nothing waiting"
    console.print(f"messages waiting: {queue}")
    if report.oldest_waiting:
        oldest = report.oldest_waiting
        console.print(f"oldest waiting: message {oldest.message_id} ({oldest.step}, campaign {oldest.campaign_id}) since "
                      f"{oldest.waiting_since:%a %H:%M} UTC: {oldest.why}", soft_wrap=True)
    due = Table("due (UTC)", "campaign", "step", "status", title="Steps due in the next 24 hours", title_justify="left")
    for step in report.steps_due_24h:
        due.add_row(f"{step.due_at:%a %H:%M}", f"{step.campaign_id} {step.campaign}", step.step, step.campaign_status)
    console.print(due if report.steps_due_24h else "steps due in the next 24 hours: none")
    if report.provider_errors_1h:
        errors = Table("channel", "error", "count", "last", "last text", title="Provider errors in the last hour", title_justify="left")
        for error in report.provider_errors_1h:
            errors.add_row(error.channel, error.error, str(error.count), f"{error.last_at:%H:%M}", error.last_text[:80])
        console.print(errors)
    else:
        console.print("provider errors in the last hour: none")


def _frame(runtime: Any, campaign_id: int) -> tuple[Group, bool]:
    from campaigns.programs import report, service
    from campaigns.programs.waiting import waiting_messages

    with runtime.sessions() as session:
        campaign = service.get_campaign(session, campaign_id)
        steps = report.step_progress(session, campaign_id)
        episodes = report.episode_counts(session, campaign_id)
        now = runtime.clock.now()
        waiting = waiting_messages(session, campaign=campaign, now=now)
    selected = sum(n for state, n in episodes.items() if state != "excluded")
    bars = Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"))
    for step in steps:
        internal = step.step in ("kickoff", "summary", "close")
        total = max(1, step.sent + step.skipped + step.failed + step.unknown + step.queued + step.retrying) if internal else max(selected, 1)
        done = step.sent + step.skipped + step.failed + step.unknown
        if step.status == "pending":
            note = f"due {step.due_at:%a %d %b %H:%M} UTC"
        else:
            counts = (("skipped", step.skipped), ("failed", step.failed), ("unknown", step.unknown), ("waiting", step.queued + step.retrying))
            note = ", ".join([f"sent {step.sent}"] + [f"{name} {n}" for name, n in counts if n])
        bars.add_task(step.key, total=total, completed=done if step.status != "pending" else 0, note=note)
    answered = episodes.get("answered", 0) + episodes.get("thanked", 0)
    header = (f"[bold]{campaign.name}[/] (campaign {campaign.id}, {campaign.status}) at {now:%a %d %b %H:%M} UTC — "
              f"{selected} selected, {episodes.get('excluded', 0)} excluded, {answered} answered")
    lines: list[Any] = [header, bars]
    for group in waiting:
        when = f"go {group.local_time}" if group.local_time else "wait"
        lines.append(f"  {group.messages} {group.state} in {group.timezone} {when}: {group.reason}")
    finished = campaign.status == "cancelled" or (campaign.status == "closed" and all(s.status != "pending" for s in steps) and not waiting)
    return Group(*lines), finished


@campaigns_app.command("watch")
def watch(
    campaign_id: Annotated[int, typer.Argument(help="the campaign's id")],
    interval: Annotated[float, typer.Option(help="seconds between refreshes")] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="print the progress once and exit")] = False,
) -> None:
    """The plan's progress as live progress bars, one per step, until the campaign is done (Ctrl-C stops watching)."""
    from campaigns.people.service import NotFound

    runtime = runtime_or_exit()
    try:
        try:
            frame, finished = _frame(runtime, campaign_id)
        except NotFound:
            fail(f"there is no campaign {campaign_id}")
        if once:
            console.print(frame)
            return
        if not console.is_terminal:  # piped or logged: each new state of the progress, as text, until done
            shown = ""
            while True:
                with console.capture() as captured:
                    console.print(frame)
                if captured.get() != shown:
                    shown = captured.get()
                    console.out(shown, end="", highlight=False)
                if finished:
                    return
                time.sleep(interval)
                frame, finished = _frame(runtime, campaign_id)
        with Live(frame, console=console, refresh_per_second=4) as live:
            while not finished:
                time.sleep(interval)  # a person watching: poll the database at a human pace
                frame, finished = _frame(runtime, campaign_id)
                live.update(frame)
    except KeyboardInterrupt:
        pass
    finally:
        runtime.close()
