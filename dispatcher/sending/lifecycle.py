"""Campaign lifecycle operations that need more than the domain: the budget, the audience size."""

from __future__ import annotations

from sqlalchemy.orm import Session

from campaigns.people.fields import FieldError
from campaigns.programs import service
from campaigns.programs.models import Campaign
from dispatcher.runtime.core import Runtime
from dispatcher.sending.selection import audience_size


def launch_campaign(runtime: Runtime, session: Session, campaign_id: int) -> Campaign:
    """Launch a draft whose audience selects someone; the next tick selects and schedules."""
    now = runtime.clock.now()
    campaign = service.get_campaign(session, campaign_id, lock=True)
    if campaign.status == "draft" and audience_size(session, campaign, now) == 0:
        raise FieldError("audience", "selects no contacts; check the filter or import contacts first")
    return service.launch(session, campaign_id=campaign_id, now=now)


def cancel_campaign(runtime: Runtime, session: Session, campaign_id: int) -> Campaign:
    """Cancel: nothing is sent again, and every reservation not yet spent goes back."""
    now = runtime.clock.now()
    campaign = service.cancel(session, campaign_id=campaign_id, now=now)
    runtime.budget.release_campaign(session, campaign_id=campaign.id, now=now)
    return campaign
