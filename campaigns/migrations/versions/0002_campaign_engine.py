"""campaign engine: campaigns, plan steps, episodes, messages, suppressions, responses

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:04:28.118680
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('period_days', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('survey', JSON_DOCUMENT, nullable=False),
    sa.Column('audience', JSON_DOCUMENT, nullable=False),
    sa.Column('exclusions', JSON_DOCUMENT, nullable=False),
    sa.Column('plan', JSON_DOCUMENT, nullable=False),
    sa.Column('sending_window', JSON_DOCUMENT, nullable=False),
    sa.Column('channels', JSON_DOCUMENT, nullable=False),
    sa.Column('internal_recipients', JSON_DOCUMENT, nullable=False),
    sa.Column('review_link', sa.String(length=500), nullable=True),
    sa.Column('send_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('you_said_we_did', sa.Text(), nullable=True),
    sa.Column('paused_reason', sa.Text(), nullable=True),
    sa.Column('selection_state', sa.String(length=20), nullable=False),
    sa.Column('selection_claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('launched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaigns_status'), ['status'], unique=False)

    op.create_table('idempotent_requests',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('body_digest', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', JSON_DOCUMENT, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_idempotent_requests'))
    )
    op.create_table('message_contents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_contents')),
    sa.UniqueConstraint('digest', name=op.f('uq_message_contents_digest'))
    )
    op.create_table('suppressions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('medium', sa.String(length=20), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.String(length=60), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressions')),
    sa.UniqueConstraint('medium', 'address', name=op.f('uq_suppressions_medium_address'))
    )
    op.create_table('plan_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('step', sa.String(length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('final', sa.Boolean(), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('halted_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_plan_steps_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_steps')),
    sa.UniqueConstraint('campaign_id', 'key', 'wave', name=op.f('uq_plan_steps_campaign_id_key_wave'))
    )
    with op.batch_alter_table('plan_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_steps_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_plan_steps_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_plan_steps_status'), ['status'], unique=False)

    op.create_table('episodes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('exclusion_reason', sa.Text(), nullable=True),
    sa.Column('exclusion_rule', sa.String(length=60), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=True),
    sa.Column('trigger', sa.String(length=200), nullable=True),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('invited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('thanked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_episodes_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_episodes_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_episodes')),
    sa.UniqueConstraint('campaign_id', 'contact_id', 'wave', name=op.f('uq_episodes_campaign_id_contact_id_wave')),
    sa.UniqueConstraint('public_id', name=op.f('uq_episodes_public_id'))
    )
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.create_index('ix_episodes_campaign_id_state', ['campaign_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_episodes_contact_id'), ['contact_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=120), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('step_id', sa.Integer(), nullable=True),
    sa.Column('episode_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('step', sa.String(length=40), nullable=False),
    sa.Column('medium', sa.String(length=20), nullable=True),
    sa.Column('channel', sa.String(length=40), nullable=True),
    sa.Column('channel_reason', sa.Text(), nullable=True),
    sa.Column('recipient', sa.String(length=500), nullable=True),
    sa.Column('locale', sa.String(length=20), nullable=True),
    sa.Column('content_id', sa.Integer(), nullable=True),
    sa.Column('substitutions', JSON_DOCUMENT, nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('skip_reason', sa.Text(), nullable=True),
    sa.Column('skip_rule', sa.String(length=60), nullable=True),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('provider_message_id', sa.String(length=200), nullable=True),
    sa.Column('error_code', sa.String(length=60), nullable=True),
    sa.Column('error_text', sa.Text(), nullable=True),
    sa.Column('segments', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_messages_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_messages_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['content_id'], ['message_contents.id'], name=op.f('fk_messages_content_id_message_contents')),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_messages_episode_id_episodes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['step_id'], ['plan_steps.id'], name=op.f('fk_messages_step_id_plan_steps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_messages_idempotency_key'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_episode_id'), ['episode_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_provider_message_id'), ['provider_message_id'], unique=False)
        batch_op.create_index('ix_messages_state_not_before', ['state', 'not_before'], unique=False)
        batch_op.create_index('ix_messages_step_id_state', ['step_id', 'state'], unique=False)

    op.create_table('responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('medium', sa.String(length=20), nullable=False),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_responses_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_responses_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_responses_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_responses_episode_id_episodes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responses'))
    )
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_responses_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_episode_id'), ['episode_id'], unique=False)

    op.create_table('in_app_prompts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('contact_external_id', sa.String(length=200), nullable=False),
    sa.Column('payload', JSON_DOCUMENT, nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_in_app_prompts_message_id_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_in_app_prompts')),
    sa.UniqueConstraint('message_id', name=op.f('uq_in_app_prompts_message_id'))
    )
    with op.batch_alter_table('in_app_prompts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_in_app_prompts_contact_external_id'), ['contact_external_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('in_app_prompts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_in_app_prompts_contact_external_id'))

    op.drop_table('in_app_prompts')
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_responses_episode_id'))
        batch_op.drop_index(batch_op.f('ix_responses_campaign_id'))

    op.drop_table('responses')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_step_id_state')
        batch_op.drop_index('ix_messages_state_not_before')
        batch_op.drop_index(batch_op.f('ix_messages_provider_message_id'))
        batch_op.drop_index(batch_op.f('ix_messages_episode_id'))
        batch_op.drop_index(batch_op.f('ix_messages_campaign_id'))

    op.drop_table('messages')
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_episodes_contact_id'))
        batch_op.drop_index('ix_episodes_campaign_id_state')

    op.drop_table('episodes')
    with op.batch_alter_table('plan_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_steps_status'))
        batch_op.drop_index(batch_op.f('ix_plan_steps_due_at'))
        batch_op.drop_index(batch_op.f('ix_plan_steps_campaign_id'))

    op.drop_table('plan_steps')
    op.drop_table('suppressions')
    op.drop_table('message_contents')
    op.drop_table('idempotent_requests')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_status'))

    op.drop_table('campaigns')
