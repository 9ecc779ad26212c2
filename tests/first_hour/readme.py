"""The README's shell blocks, as a newcomer pastes them, and a real `pulse run` to paste them into."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PULSE = str(Path(sys.executable).with_name("pulse"))
KEY_LINE = re.compile(r"First admin API key \(shown once, keep it\): (pulse_\S+)")


def shell_blocks(*headings: str) -> list[str]:
    """The ```sh blocks under each ``## heading`` (up to the next ``## ``), in README order."""
    text = README.read_text()
    blocks: list[str] = []
    for heading in headings:
        start = text.index(f"## {heading}")
        end = text.find("\n## ", start + 3)
        section = text[start:end if end != -1 else None]
        blocks += re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return blocks


@dataclass
class Served:
    url: str
    admin_key: str
    outbox: Path
    log: Path
    env: dict[str, str]  # what a shell in the same folder as `pulse run` would see


@contextmanager
def pulse_run(directory: Path, port: int, **env: str) -> Iterator[Served]:
    """`pulse run` on a fresh database in ``directory``, on the real clock; yields once it answers."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    environment.update({
        "PULSE_DATABASE_URL": f"sqlite:///{directory / 'pulse.db'}", "PULSE_OUTBOX_DIR": str(directory / "outbox"),
        "PULSE_PUBLIC_URL": f"http://127.0.0.1:{port}", "COLUMNS": "200", **env,
    })
    log = directory / "pulse-run.log"
    with log.open("wb") as output:
        process = subprocess.Popen([PULSE, "run", "--port", str(port)], env=environment, stdout=output, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "pulse run did not answer within 60 s:\n" + log.read_text()[-3000:]
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)  # polling a starting process
            found = KEY_LINE.search(log.read_text())
            assert found, "pulse run printed no first admin key:\n" + log.read_text()[-3000:]
            yield Served(url, found.group(1), directory / "outbox", log, environment)
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def as_pasted(block: str, served: Served) -> str:
    """What a newcomer runs: their own key where the README says ``pulse_...``, their port where it says 8000,
    and the `pulse` of the running interpreter where it says ``.venv/bin/pulse`` (the same file after
    `make`; a checkout without its own .venv, such as a git worktree, has only this one)."""
    block = block.replace("export ADMIN=pulse_...", f"export ADMIN={served.admin_key}").replace(".venv/bin/pulse", PULSE)
    return block.replace("http://127.0.0.1:8000", served.url)


def run_shell(script: str, served: Served, directory: Path, name: str, timeout: float = 120) -> str:
    """Run ``script`` with bash from the repository root (where the README's paths start), with the
    database `pulse run` uses (the CLI commands must reach it, as in the README's one folder); its output."""
    path = directory / f"{name}.sh"
    path.write_text("set -euo pipefail\n" + script)
    done = subprocess.run(["bash", str(path)], cwd=ROOT, env=served.env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{name} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout
