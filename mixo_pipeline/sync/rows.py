"""Shape and validate the campaigns of stored raw pages into rows for the ``campaigns`` table.

The client validates responses as they arrive, but the raw pages are stored verbatim and the
``campaigns`` asset reads them back from PostgreSQL (possibly in another run, on another worker,
after someone edited them): they are validated again here, with pandas, before anything is
written. Every error names the page, the campaign and the field, and is raised before the merge
starts, so the ``campaigns`` table keeps its previous contents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from decimal import Decimal, InvalidOperation
from numbers import Integral, Real
from typing import Any

import pandas as pd

from mixo_pipeline.ad_platform.models import Campaign
from mixo_pipeline.storage.raw_pages import StoredPage

REQUIRED_FIELDS = tuple(field.name for field in fields(Campaign))
_TEXT_FIELDS = ("id", "name", "status")
_COUNT_FIELDS = ("impressions", "clicks", "conversions")


class CampaignDataError(ValueError):
    """A stored page or campaign is not what the contract promises; says where and what."""


def campaigns_frame(pages: Sequence[StoredPage]) -> pd.DataFrame:
    """One validated row per campaign across ``pages``, with a ``page`` column.

    Types: text for id/name/status, ``Decimal`` budget, int64 counts, UTC ``created_at``.
    Raises :class:`CampaignDataError` on the first problem found, naming it.
    """
    items: list[dict[str, Any]] = []
    for page in pages:
        data = page.body.get("data") if isinstance(page.body, dict) else None
        if not isinstance(data, list):
            raise CampaignDataError(f"page {page.page}: field 'data' is not a list of campaigns")
        for position, item in enumerate(data, start=1):
            if not isinstance(item, dict):
                raise CampaignDataError(
                    f"page {page.page}, item {position}: a campaign must be a JSON object, "
                    f"got {type(item).__name__}"
                )
            items.append({"page": page.page, "position": position, **item})
    # object dtype keeps each JSON value's own type, so "1100" or 8432.0 is caught, not coerced.
    frame = pd.DataFrame(items, columns=["page", "position", *REQUIRED_FIELDS], dtype=object)
    if frame.empty:
        return frame.drop(columns="position")

    for field in REQUIRED_FIELDS:
        missing = frame[field].isna()
        if missing.any():
            raise CampaignDataError(f"{_where(frame, missing)}: missing required field '{field}'")
    for field in _TEXT_FIELDS:
        _require(frame, field, lambda v: isinstance(v, str) and v != "", "a non-empty string")
    for field in _COUNT_FIELDS:
        _require(
            frame,
            field,
            lambda v: isinstance(v, Integral) and not isinstance(v, bool),
            "an integer",
        )
        frame[field] = frame[field].astype("int64")
    _require(
        frame,
        "budget",
        lambda v: isinstance(v, Real) and not isinstance(v, bool) and _finite(v),
        "a number",
    )
    frame["budget"] = frame["budget"].map(lambda v: Decimal(str(v)))
    created = pd.to_datetime(frame["created_at"], utc=True, errors="coerce", format="ISO8601")
    not_strings = ~frame["created_at"].map(lambda v: isinstance(v, str))
    bad_dates = created.isna() | not_strings
    if bad_dates.any():
        raise CampaignDataError(
            f"{_where(frame, bad_dates)}: field 'created_at' must be an ISO-8601 timestamp, "
            f"got {_shown(frame.loc[bad_dates, 'created_at'].iloc[0])}"
        )
    frame["created_at"] = created

    repeated = frame["id"].duplicated(keep=False)
    if repeated.any():
        first = frame.loc[repeated, "id"].iloc[0]
        pages_seen = sorted(frame.loc[frame["id"] == first, "page"].unique().tolist())
        raise CampaignDataError(
            f"campaign {first}: id listed {int((frame['id'] == first).sum())} times "
            f"(pages {', '.join(map(str, pages_seen))}); refusing to guess which row is right"
        )
    return frame.drop(columns="position")


def _require(frame: pd.DataFrame, field: str, is_valid: Any, expected: str) -> None:
    bad = ~frame[field].map(is_valid)
    if bad.any():
        raise CampaignDataError(
            f"{_where(frame, bad)}: field '{field}' must be {expected}, "
            f"got {_shown(frame.loc[bad, field].iloc[0])}"
        )


def _where(frame: pd.DataFrame, mask: pd.Series) -> str:
    row = frame.loc[mask].iloc[0]
    campaign_id = row["id"]
    if isinstance(campaign_id, str) and campaign_id:
        return f"campaign {campaign_id} (page {row['page']})"
    return f"page {row['page']}, item {row['position']}"


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}"


def _finite(value: Real) -> bool:
    try:
        return Decimal(str(value)).is_finite()
    except InvalidOperation:
        return False
