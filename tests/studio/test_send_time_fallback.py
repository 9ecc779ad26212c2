"""A published edit that fails at send time: the last good version goes out, and the team hears of it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.programs import service as programs
from campaigns.programs.models import Message, MessageContent
from campaigns.studio import service
from campaigns.studio.models import TemplateUse
from dispatcher.runtime.core import Runtime
from dispatcher.sending.contents import survey_context
from dispatcher.studio.published import render_content
from templates import ConversationContext, TemplateKey, recipient_placeholders
from tests import factories

KEY = TemplateKey("email", "nps", "invite", "en")
REF = service.KeyRef("email", "nps", "invite", "en")


def publish(runtime: Runtime, subject: str) -> None:
    with runtime.sessions() as session:
        service.save_draft(session, REF, parts={"subject": subject}, author="test", now=runtime.clock.now())
        service.publish_draft(session, REF, author="test", note=None, now=runtime.clock.now())
        session.commit()
    runtime.published_templates.invalidate()


def render_invite(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        campaign = programs.create_campaign(session, spec={
            "name": "Spring NPS", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}},
            "internal_recipients": {"emails": ["cs-team@example.com"]},
        }, now=runtime.clock.now())
        context = survey_context(campaign, runtime.settings, template_step="invite", locale="en", recipient=recipient_placeholders())
        content_id = render_content(runtime, session, campaign, KEY, context, now=runtime.clock.now())
        session.commit()
        return content_id


def test_a_failing_edit_falls_back_to_the_last_good_version_and_alerts_the_team(runtime: Runtime, session: Session) -> None:
    with runtime.sessions() as writer:
        factories.team_member(writer, email="admin@acme.example", console_role="admin")
        factories.team_member(writer, email="ops@acme.example", console_role="ops")
        writer.commit()
    publish(runtime, "Good: {{ company_name }}")
    # Passes the studio's checks (the sample has an owner) but an invite has none at send time.
    publish(runtime, "Broken: {{ owner_name }}")

    content = session.get_one(MessageContent, render_invite(runtime))

    assert content.subject == "Good: Acme"
    use = session.scalar(select(TemplateUse))
    assert use is not None and use.fallback and "None" in use.fallback
    assert use.version_ids == [service.version(session, REF, 1).id]
    alerts = session.scalars(select(Message).where(Message.step == "alert")).all()
    assert sorted(a.recipient or "" for a in alerts) == ["admin@acme.example", "cs-team@example.com"]
    alert = alerts[0]
    alert_subject = session.get_one(MessageContent, alert.content_id).subject
    assert alert_subject is not None and "email/nps/invite" in alert_subject


def test_with_no_good_version_left_the_default_goes_out(runtime: Runtime, session: Session) -> None:
    publish(runtime, "Broken: {{ owner_name }}")

    content = session.get_one(MessageContent, render_invite(runtime))

    assert content.subject == "One quick question from Acme"
    assert session.scalar(select(TemplateUse.version_ids)) == []


def test_a_working_edit_is_recorded_without_a_fallback(runtime: Runtime, session: Session) -> None:
    publish(runtime, "Hello from {{ company_name }}")

    content = session.get_one(MessageContent, render_invite(runtime))

    assert content.subject == "Hello from Acme"
    use = session.scalar(select(TemplateUse))
    assert use is not None and use.fallback is None and len(use.version_ids) == 1
    assert session.scalar(select(Message.id).where(Message.step == "alert")) is None


def test_a_failing_edit_of_an_sms_reply_sends_the_default_reply(runtime: Runtime) -> None:
    ref = service.KeyRef("sms", "nps", "help", "en")
    with runtime.sessions() as session:
        service.save_draft(session, ref, parts={"txt": "Help: {{ scale.min }}"}, author="test", now=runtime.clock.now())
        service.publish_draft(session, ref, author="test", note=None, now=runtime.clock.now())
        session.commit()
    runtime.published_templates.invalidate()
    context = ConversationContext(company_name="Acme", support_contact="help@acme.example")  # no scale in a HELP reply

    reply = runtime.renderer.render(TemplateKey("sms", "nps", "help", "en"), context)

    assert reply.text.startswith("Acme surveys: reply with a number")
