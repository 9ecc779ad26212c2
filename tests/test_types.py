"""The code type-checks: mypy (its settings in pyproject.toml) finds no error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("api", "dispatcher", "channels", "templates", "campaigns", "bench", "tests")


def test_mypy_finds_no_errors() -> None:
    # Two worker processes: without a cache (a fresh clone) one process takes about 50 s of CPU.
    result = subprocess.run([sys.executable, "-m", "mypy", "--num-workers", "2", *CHECKED], check=False, cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stdout.splitlines() if ": error: " in line]
    assert not errors, "\n".join(errors)
    assert result.returncode == 0, result.stdout + result.stderr  # 2 is mypy itself failing (settings, a crash)
