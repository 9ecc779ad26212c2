"""The code type-checks: mypy (its settings in pyproject.toml) finds no error but in the files left below."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("api", "dispatcher", "channels", "templates", "campaigns", "bench", "tests")
# Being changed on other branches, and not type-clean yet: their errors are theirs to fix. Drop a file from
# here once mypy finds nothing in it. (Left out of the paths would not do: mypy follows imports into them.)
LEFT = frozenset({
    "campaigns/events/batch_apply.py",
    "campaigns/people/service.py",
    "campaigns/people/upsert.py",
    "dispatcher/answers/provider_events.py",
    "bench/bench_answers.py",
    "bench/bench_import.py",
})


def test_mypy_finds_no_errors_but_in_the_files_left() -> None:
    # Two worker processes: without a cache (a fresh clone) one process takes about 50 s of CPU.
    result = subprocess.run([sys.executable, "-m", "mypy", "--num-workers", "2", *CHECKED], check=False, cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stdout.splitlines() if ": error: " in line]
    outside = [line for line in errors if line.split(":", 1)[0] not in LEFT]
    assert not outside, "\n".join(outside)
    # 1 with errors (all in LEFT), 0 without; 2 is mypy itself failing (settings, a crash).
    assert (result.returncode, bool(errors)) in ((0, False), (1, True)), result.stdout + result.stderr
