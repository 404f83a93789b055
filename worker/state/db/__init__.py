"""The service database: SQLAlchemy models, engines, sessions and Alembic migrations."""
