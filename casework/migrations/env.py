"""Alembic environment: migrations run on one psycopg connection handed in by casework.schema
(or on the URL in the config's `sqlalchemy.url` when alembic is run by hand)."""
from alembic import context
from sqlalchemy import create_engine

config = context.config
conn = config.attributes.get("connection")
if conn is not None:
    context.configure(connection=conn, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
