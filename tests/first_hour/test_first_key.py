"""The first admin key: printed once, by the first `pulse run` on an empty database, and never into a log line."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import typer

from tests.answers.live_server import free_port
from tests.first_hour.readme import KEY_LINE, PULSE


def _start_and_stop(directory: Path, port: int, name: str) -> str:
    """Run `pulse run` in production log mode until it answers, then stop it; everything it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env.update({"PULSE_DATABASE_URL": f"sqlite:///{directory / 'pulse.db'}", "PULSE_OUTBOX_DIR": str(directory / "outbox"),
                "PULSE_ENVIRONMENT": "production", "PULSE_SECRET_KEY": "x" * 48, "COLUMNS": "200"})
    log = directory / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen([PULSE, "run", "--port", str(port)], env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert process.poll() is None, log.read_text()[-3000:]
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)  # polling a starting process
            httpx.get(f"http://127.0.0.1:{port}/v1/contacts", timeout=5)  # one access log line
        finally:
            process.terminate()
            process.wait(20)
    return log.read_text()


def test_the_first_key_is_printed_once_and_never_logged(tmp_path: Path) -> None:
    first = _start_and_stop(tmp_path, free_port(), "first")
    second = _start_and_stop(tmp_path, free_port(), "second")

    found = KEY_LINE.search(first)
    assert found, first[-2000:]
    key = found.group(1)
    assert first.count(key) == 2  # the key line and the curl line to try it; no log line
    assert "First admin API key" not in second and "pulse_" not in second
    log_lines = [json.loads(line) for line in (first + second).splitlines() if line.startswith("{")]
    assert any(line.get("logger") == "uvicorn.access" for line in log_lines), "production logs are JSON lines"
    assert all(key not in json.dumps(line) for line in log_lines)


def _run_on_a_taken_port(tmp_path: Path, *options: str) -> tuple[int, subprocess.CompletedProcess[str]]:
    """`pulse run OPTIONS --port N` while another socket listens on N: the port and what the command did."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
        env.update({"PULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'pulse.db'}", "PULSE_OUTBOX_DIR": str(tmp_path / "outbox"), "COLUMNS": "200"})
        refused = subprocess.run([PULSE, "run", *options, "--port", str(port)], check=False, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    return port, refused


def test_a_port_in_use_is_refused_with_what_to_do_and_the_first_key_is_kept_for_the_next_run(tmp_path: Path) -> None:
    port, refused = _run_on_a_taken_port(tmp_path)
    assert f"port {port} on 127.0.0.1 is in use" in refused.stderr and f"PULSE_PORT={port + 14} make run" in refused.stderr
    assert "Pulse is running" not in refused.stdout and not KEY_LINE.search(refused.stdout)
    # Nothing was half-done: the first run that can listen still shows the first admin key.
    assert KEY_LINE.search(_start_and_stop(tmp_path, free_port(), "after"))


def test_a_port_in_use_by_the_demo_suggests_the_demo_on_another_port(tmp_path: Path) -> None:
    port, refused = _run_on_a_taken_port(tmp_path, "--demo")
    assert f"PULSE_PORT={port + 14} make demo" in refused.stderr and f"pulse run --demo --port {port + 14}" in refused.stderr


def test_the_port_check_refuses_only_what_uvicorn_would_refuse() -> None:
    import socket

    from api.cli import _check_port_free

    with socket.socket(socket.AF_INET) as holder:  # another process on IPv4, every interface
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(typer.Exit):
            _check_port_free("127.0.0.1", port)
        if socket.has_ipv6:
            try:
                with socket.socket(socket.AF_INET6) as probe:
                    probe.bind(("::1", 0))
            except OSError:
                return  # no IPv6 on this machine: nothing more to check
            _check_port_free("::", port)  # IPv6-only, as asyncio binds it: free beside the IPv4 holder
