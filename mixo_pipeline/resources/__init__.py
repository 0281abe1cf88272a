"""Dagster resources: thin, serializable configuration in front of plain client classes."""
