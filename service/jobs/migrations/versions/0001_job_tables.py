"""The job table and the queue lock row's table.

Revision ID: 0001
Revises: none

Stores created before the migrations existed already hold these tables;
this revision leaves them as they are, so the store is adopted as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JOBS = "rnn_forecast_jobs"
QUEUE_LOCK = "rnn_forecast_job_queue_lock"


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if JOBS not in existing:
        create_jobs()
    if QUEUE_LOCK not in existing:
        op.create_table(
            QUEUE_LOCK,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("submissions", sa.Integer, nullable=False),
        )


def create_jobs() -> None:
    op.create_table(
        JOBS,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("progress", sa.JSON),
        sa.Column("history", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("cancel_requested_at", sa.Double),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("started_at", sa.Double),
        sa.Column("finished_at", sa.Double),
        sa.Column("heartbeat_at", sa.Double),
        sa.Column("worker", sa.String(255)),
        sa.Column("revision", sa.Integer, nullable=False),
    )
    op.create_index("ix_rnn_forecast_jobs_status", JOBS, ["status", "created_at"])
    op.create_index("ix_rnn_forecast_jobs_created", JOBS, ["created_at", "id"])


def downgrade() -> None:
    op.drop_table(QUEUE_LOCK)
    op.drop_index("ix_rnn_forecast_jobs_created", table_name=JOBS)
    op.drop_index("ix_rnn_forecast_jobs_status", table_name=JOBS)
    op.drop_table(JOBS)
