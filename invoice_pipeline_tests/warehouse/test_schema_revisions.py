"""The revisions `schema_migrations` reads from the migration files without Alembic are Alembic's own."""

from alembic.script import ScriptDirectory

from invoice_pipeline.warehouse import schema_migrations


def test_the_head_read_from_the_migration_files_is_alembics_head():
    scripts = ScriptDirectory(str(schema_migrations.MIGRATIONS_DIR))
    assert schema_migrations.head_revision() == scripts.get_current_head()


def test_each_revision_read_from_the_migration_files_revises_the_one_alembic_says():
    scripts = ScriptDirectory(str(schema_migrations.MIGRATIONS_DIR))
    assert schema_migrations._revisions() == {
        script.revision: script.down_revision for script in scripts.walk_revisions()
    }
