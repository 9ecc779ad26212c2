"""What every `pulse` command shares: the consoles, failing with a message, reading the settings."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from dispatcher.runtime.settings import Settings, SettingsError, load_settings

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
