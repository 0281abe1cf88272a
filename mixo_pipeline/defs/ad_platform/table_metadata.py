"""Dagster table metadata derived from the SQLAlchemy tables, so the UI's schema never drifts."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from mixo_pipeline.storage import schema

POSTGRES_SCHEMA = "public"


def table_name(name: str) -> str:
    """The name the UI shows for a table (``dagster/table_name``)."""
    return f"{POSTGRES_SCHEMA}.{name}"


def column_schema(table: sa.Table) -> dg.TableSchema:
    """``dagster/column_schema`` of ``table``: names, SQL types, comments, keys, nullability."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=str(column.type.compile(dialect=sa.dialects.postgresql.dialect())),
                description=column.comment,
                constraints=dg.TableColumnConstraints(
                    nullable=bool(column.nullable) and not column.primary_key,
                    other=["primary key"] if column.primary_key else [],
                ),
            )
            for column in table.columns
        ]
    )


def markdown_table(frame: pd.DataFrame) -> dg.MetadataValue:
    """A small frame as a Markdown table (the asset's preview), without extra dependencies."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join(str(value).replace("|", "\\|") for value in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return dg.MetadataValue.md("\n".join([header, rule, *rows]))


RAW_PAGES_SCHEMA = column_schema(schema.raw_campaign_pages)
SYNC_RECORDS_SCHEMA = column_schema(schema.campaign_sync_records)
CAMPAIGNS_SCHEMA = column_schema(schema.campaigns)
