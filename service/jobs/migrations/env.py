"""Alembic environment of the job store.

``service.jobs.schema`` runs the migrations on a connection of its own,
passed in ``config.attributes["connection"]``. Alembic's command line works
too, with the store's URL as ``sqlalchemy.url`` in ``alembic.ini`` (see
``service/jobs/migrations/README.md``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from service.jobs.schema import VERSION_TABLE
from service.jobs.store import metadata


def run_on(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise RuntimeError(
            "the job store migrations need a database connection; run them "
            "without --sql"
        )

    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "sqlalchemy.url is not set; put the job store's URL in alembic.ini"
        )
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            run_on(connection)
    finally:
        engine.dispose()


main()
