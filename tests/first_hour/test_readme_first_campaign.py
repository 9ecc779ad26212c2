"""The README's first session and first campaign, pasted in order into a shell against a fresh `pulse run`:
a survey with answer links is in the outbox within a minute of the launch, on the real clock."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from tests.answers.live_server import free_port
from tests.first_hour.readme import as_pasted, pulse_run, run_shell, shell_blocks

LAUNCH = "/launch"


def test_readme_first_campaign_puts_a_clickable_survey_in_the_outbox_within_a_minute(tmp_path: Path) -> None:
    blocks = shell_blocks("A first session with curl", "A first campaign")
    script = "\n".join(blocks)
    launch_at = next(i for i, line in enumerate(script.splitlines()) if LAUNCH in line)
    lines = script.splitlines()
    # The state the later lines need (PULSE, OPS, CAMPAIGN) is exported to a file between the two halves.
    until_launch = "\n".join(lines[:launch_at + 1]) + "\necho \"export PULSE=$PULSE OPS=$OPS CAMPAIGN=$CAMPAIGN\" > \"$STATE\"\n"
    after_launch = "\n".join(lines[launch_at + 1:])

    with pulse_run(tmp_path, free_port()) as served:
        state = tmp_path / "state.sh"
        output = run_shell(f"export STATE={state}\n" + as_pasted(until_launch, served), served, tmp_path, "until-launch")
        launched = time.monotonic()
        assert '"status":"active"' in output.replace(" ", ""), output[-2000:]
        survey = _wait_for_invite(served.outbox, launched + 60)
        assert survey is not None, "no survey in the outbox within a minute of launch:\n" + served.log.read_text()[-3000:]
        progress = run_shell(f"source {state}\n" + as_pasted(after_launch, served), served, tmp_path, "after-launch")

        link = re.search(r"http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._~-]+\?score=\d+", survey)
        assert link, "the survey email has no answer link"
        page = httpx.get(link.group(0).replace("=3D", "="), timeout=10)
        assert page.status_code == 200 and "<form" in page.text  # the link opens the answer page
    assert '"key":"invite"' in progress.replace(" ", "") and '"sent":0' not in progress.replace(" ", "").split('"key":"invite"')[1][:200]


def _wait_for_invite(outbox: Path, deadline: float) -> str | None:
    """The first survey email in the outbox (it has score links), polling until ``deadline``."""
    while time.monotonic() < deadline:
        if outbox.is_dir():
            for path in sorted(outbox.glob("*.eml")):
                text = path.read_text(errors="replace")
                if "/r/" in text and "score=" in text:
                    return text.replace("=\n", "")  # quoted-printable soft line breaks
        time.sleep(0.5)  # the real clock: the in-process worker ticks every few seconds
    return None
