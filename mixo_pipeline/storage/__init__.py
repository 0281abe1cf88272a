"""The pipeline's PostgreSQL tables and every read and write against them (SQLAlchemy Core)."""
