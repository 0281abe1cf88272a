"""Response bodies checked against the contract and turned into the shared typed records.

Every error names where (the page or the campaign) and what (the field and what was found), so
a bad upstream payload can be reported without anyone opening the raw JSON. Values are checked,
never coerced: a budget sent as a string is an error, not a guess. Strings pass through exactly
as sent (a name with quotes, semicolons or non-ASCII characters is a valid name).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from mixo_pipeline.ad_platform.errors import ResponseValidationError
from mixo_pipeline.ad_platform.models import Campaign, CampaignPage

_INTEGER_FIELDS = ("impressions", "clicks", "conversions")


def parse_timestamp(value: Any, where: str, field: str) -> datetime:
    """An ISO-8601 instant with an offset (``Z`` included); naive times are ambiguous."""
    if not isinstance(value, str):
        raise ResponseValidationError(
            f"{where}: field {field!r} is {_kind(value)}, expected an ISO-8601 string"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ResponseValidationError(
            f"{where}: field {field!r} is not an ISO-8601 timestamp: {value[:64]!r}"
        ) from None
    if parsed.tzinfo is None:
        raise ResponseValidationError(f"{where}: field {field!r} has no time zone: {value!r}")
    return parsed


def parse_campaign(raw: Any, where: str) -> Campaign:
    """One element of a listing page's ``data``."""
    if not isinstance(raw, dict):
        raise ResponseValidationError(f"{where}: is {_kind(raw)}, expected an object")
    campaign_id = raw.get("id")
    if isinstance(campaign_id, str) and campaign_id:
        where = f"{where} (id {campaign_id!r})"
    for field in ("id", "name", "status"):
        _require(raw, field, where)
        if not isinstance(raw[field], str):
            raise ResponseValidationError(
                f"{where}: field {field!r} is {_kind(raw[field])}, expected a string"
            )
    if not raw["id"]:
        raise ResponseValidationError(f"{where}: field 'id' is empty")
    _require(raw, "budget", where)
    budget = raw["budget"]
    if isinstance(budget, bool) or not isinstance(budget, int | float):
        raise ResponseValidationError(
            f"{where}: field 'budget' is {_kind(budget)}, expected a number"
        )
    counts: dict[str, int] = {}
    for field in _INTEGER_FIELDS:
        _require(raw, field, where)
        value = raw[field]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ResponseValidationError(
                f"{where}: field {field!r} is {_kind(value)}, expected an integer"
            )
        if value < 0:
            raise ResponseValidationError(f"{where}: field {field!r} is negative ({value})")
        counts[field] = value
    _require(raw, "created_at", where)
    return Campaign(
        id=raw["id"],
        name=raw["name"],
        status=raw["status"],
        # via str so 1100.1 stays 1100.1, not its binary expansion
        budget=Decimal(str(budget)),
        created_at=parse_timestamp(raw["created_at"], where, "created_at"),
        **counts,
    )


def parse_campaign_page(body: Any, requested_page: int) -> CampaignPage:
    """A ``GET /api/campaigns`` body; ``requested_page`` names it in errors."""
    where = f"campaigns page {requested_page}"
    if not isinstance(body, dict):
        raise ResponseValidationError(f"{where}: body is {_kind(body)}, expected an object")
    _require(body, "data", where)
    _require(body, "pagination", where)
    data, pagination = body["data"], body["pagination"]
    if not isinstance(data, list):
        raise ResponseValidationError(f"{where}: field 'data' is {_kind(data)}, expected a list")
    if not isinstance(pagination, dict):
        raise ResponseValidationError(
            f"{where}: field 'pagination' is {_kind(pagination)}, expected an object"
        )
    numbers: dict[str, int] = {}
    for field in ("page", "limit", "total"):
        _require(pagination, field, where, prefix="pagination.")
        value = pagination[field]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ResponseValidationError(
                f"{where}: field 'pagination.{field}' is {_kind(value)}, expected an integer >= 0"
            )
        numbers[field] = value
    _require(pagination, "has_more", where, prefix="pagination.")
    has_more = pagination["has_more"]
    if not isinstance(has_more, bool):
        raise ResponseValidationError(
            f"{where}: field 'pagination.has_more' is {_kind(has_more)}, expected a boolean"
        )
    if numbers["page"] != requested_page:
        raise ResponseValidationError(
            f"{where}: field 'pagination.page' is {numbers['page']}, expected {requested_page}"
        )
    if numbers["limit"] < 1:
        raise ResponseValidationError(f"{where}: field 'pagination.limit' is 0")
    campaigns = tuple(
        parse_campaign(item, f"{where}, item {index}") for index, item in enumerate(data)
    )
    return CampaignPage(
        page=numbers["page"],
        limit=numbers["limit"],
        total=numbers["total"],
        has_more=has_more,
        campaigns=campaigns,
        raw=body,
        fetched_at=datetime.now(UTC),
    )


def parse_sync_response(body: Any, campaign_id: str) -> datetime:
    """A ``POST /api/campaigns/{id}/sync`` body; returns its ``synced_at``."""
    where = f"sync of campaign {campaign_id!r}"
    if not isinstance(body, dict):
        raise ResponseValidationError(f"{where}: body is {_kind(body)}, expected an object")
    _require(body, "success", where)
    if body["success"] is not True:
        raise ResponseValidationError(f"{where}: field 'success' is {body['success']!r}")
    if "campaign_id" in body and body["campaign_id"] != campaign_id:
        raise ResponseValidationError(
            f"{where}: field 'campaign_id' is {body['campaign_id']!r}, expected {campaign_id!r}"
        )
    _require(body, "synced_at", where)
    return parse_timestamp(body["synced_at"], where, "synced_at")


def _require(obj: dict[str, Any], field: str, where: str, prefix: str = "") -> None:
    if field not in obj:
        raise ResponseValidationError(f"{where}: field {prefix + field!r} is missing")
    if obj[field] is None:
        raise ResponseValidationError(f"{where}: field {prefix + field!r} is null")


def _kind(value: Any) -> str:
    """A short description of a JSON value for error messages (type and a clipped repr)."""
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"
