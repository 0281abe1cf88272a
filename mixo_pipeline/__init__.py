"""An ad platform's campaigns mirrored into PostgreSQL, as a Dagster code location."""
