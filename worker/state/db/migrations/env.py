"""Alembic environment: migrates the connection handed over by ``worker.state.db.engine.migrate``.

Run outside the service (e.g. ``alembic revision --autogenerate``) it connects to the database of
``worker.state.settings.StateSettings()`` (``POSECLOUD_DATABASE_URL``).
"""

from alembic import context
from sqlalchemy.engine import Connection

from worker.state.db.engine import make_engine
from worker.state.db.models import Base
from worker.state.settings import StateSettings


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    with make_engine(StateSettings().database_url).begin() as connection:
        _run(connection)
