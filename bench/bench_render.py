"""Issue 11: the cost of a published edit from the database against the shipped file default.

    .venv/bin/python bench/bench_render.py [--renders 2000] [--rounds 2]

Renders the German NPS email invite (subject, text and HTML parts) the way a
campaign step does (``dispatcher.studio.published.render_published`` with the
process's snapshot of published edits, asked for on every render), once with
an edit of all three parts published in the database and once with no edit
(the default files), interleaved, ``--rounds`` times. Prints renders per second
(wall) and CPU milliseconds per render for each row, and the ratio of the
edited rows to the default rows (the baseline). The edit is the default text
with one word changed, so both do the same template work.
"""

from __future__ import annotations

import argparse
import time

from common import fresh_schema

from campaigns.programs import service as programs
from campaigns.studio import service
from dispatcher.runtime.core import build_runtime
from dispatcher.runtime.settings import Settings
from dispatcher.sending.contents import survey_context
from dispatcher.studio.published import render_published
from dispatcher.studio.template_edits import EditSnapshot
from templates import TemplateKey, TemplateRenderer, recipient_placeholders

KEY = TemplateKey("email", "nps", "invite", "de")


def measure(label: str, renders: int, render: object) -> tuple[str, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(renders):
        render()  # type: ignore[operator]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return label, renders / wall, cpu / renders * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with fresh_schema() as url:
        runtime = build_runtime(Settings(database_url=url, environment="development"))
        now = runtime.clock.now()
        defaults = TemplateRenderer().source(KEY)
        edited = {part: source + ("\n" if part != "subject" else "") for part, source in defaults.items()}
        edited["subject"] = defaults["subject"].replace("kurze", "schnelle")
        with runtime.sessions() as session:
            campaign = programs.create_campaign(session, spec={
                "name": "Bench render", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}},
            }, now=now)
            ref = service.KeyRef(KEY.channel, KEY.kind, KEY.step, KEY.locale)
            service.save_draft(session, ref, parts=edited, author="bench", now=now)
            service.publish_draft(session, ref, author="bench", note="bench", now=now)
            session.commit()
            context = survey_context(campaign, runtime.settings, template_step="invite", locale="de", recipient=recipient_placeholders())
            empty = EditSnapshot()
            live = runtime.published_templates

            def default() -> None:
                render_published(session, empty, KEY, context, campaign_id=campaign.id)

            def from_database() -> None:
                render_published(session, live.snapshot(), KEY, context, campaign_id=campaign.id)

            assert "schnelle" in (render_published(session, live.snapshot(), KEY, context, campaign_id=campaign.id).message.subject or "")
            for warm in (default, from_database):
                for _ in range(50):
                    warm()
            rows = []
            for _ in range(args.rounds):
                rows.append(measure("file default (baseline)", args.renders, default))
                rows.append(measure("edited, from the database", args.renders, from_database))
        runtime.close()
    print(f"{'row':<28} {'renders/s':>10} {'CPU ms/render':>14}")
    for label, rate, cpu in rows:
        print(f"{label:<28} {rate:>10,.0f} {cpu:>14.3f}")
    base = [r for r in rows if r[0].startswith("file")]
    edit = [r for r in rows if r[0].startswith("edited")]
    ratio = (sum(r[1] for r in edit) / len(edit)) / (sum(r[1] for r in base) / len(base))
    print(f"edited / default renders per second: {ratio:.2f}")


if __name__ == "__main__":
    main()
