"""Alembic environment: migrations run on the connection `schema_migrations` hands over."""

from alembic import context

from invoice_pipeline.warehouse.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
