"""Alembic environment of the study database: run programmatically by ``study.db``.

The caller passes an open connection in ``config.attributes["connection"]``; there is
no alembic.ini and no offline (SQL script) mode.
"""

from __future__ import annotations

from alembic import context

from ultrasound_reader.study.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
