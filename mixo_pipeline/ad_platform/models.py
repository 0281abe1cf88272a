"""What the ad platform returns, as frozen pydantic records: values are checked, never coerced (a
budget of ``"1100"`` is an error); strings are kept as is, except NUL, which PostgreSQL refuses."""

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field, Strict, ValidationError

from mixo_pipeline.ad_platform.errors import ResponseValidationError

M = TypeVar("M", bound=BaseModel)
# Statuses the platform documents or has sent; others are flagged by `campaigns_valid`, not lost.
KNOWN_STATUSES: frozenset[str] = frozenset({"active", "paused", "completed", "archived", "draft"})


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("contains a NUL character, which PostgreSQL cannot store")
    return value


def finite_number(value: Any) -> float | None:
    """``value`` if it is a finite JSON number (not a boolean), else None."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if number and math.isfinite(value) else None


def _budget(value: Any) -> Decimal:
    if finite_number(value) is None:
        raise ValueError("must be a finite number")
    return Decimal(str(value))  # via str: 1100.1 stays 1100.1, not its binary expansion


def _iso_string(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 string")
    return value


Text = Annotated[str, Strict(), BeforeValidator(_no_nul)]
Count = Annotated[int, Strict(), Field(ge=0)]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_string)]


class Campaign(BaseModel, frozen=True):
    """One campaign of a listing page."""

    id: Annotated[Text, Field(min_length=1)]
    name: Text
    status: Text
    budget: Annotated[Decimal, BeforeValidator(_budget)]
    impressions: Count
    clicks: Count
    conversions: Count
    created_at: Timestamp


class _Pagination(BaseModel, frozen=True):
    page: Count
    limit: Annotated[int, Strict(), Field(ge=1)]
    total: Count
    has_more: Annotated[bool, Strict()]


class CampaignPage(_Pagination):
    """One validated page of ``GET /api/campaigns``, with its body kept verbatim."""

    campaigns: tuple[Campaign, ...]
    raw: dict[str, Any]
    fetched_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class _PageBody(BaseModel, frozen=True):
    data: list[Campaign]
    pagination: _Pagination


class _SyncBody(BaseModel, frozen=True):
    success: Literal[True]
    campaign_id: Text | None = None
    synced_at: Timestamp


class _TokenBody(BaseModel, frozen=True):
    access_token: Annotated[str, Strict(), Field(min_length=1, repr=False)]
    token_type: Literal["Bearer", "bearer"] = "Bearer"
    # Optional hints: an unusable value means "not given", not a failed login.
    expires_in: Annotated[float | None, BeforeValidator(finite_number)] = None
    issued_at: Annotated[float | None, BeforeValidator(finite_number)] = None


@dataclass(frozen=True)
class Account:
    """One account; ``client_id``, sent as ``X-Client-ID``, keys its rate limit and partition."""

    client_id: str
    base_url: str
    email: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class SyncResult:
    """The outcome of one campaign's sync call, after all retries."""

    campaign_id: str
    success: bool
    attempts: int
    synced_at: datetime | None = None
    error: str | None = None


def validate(model: type[M], body: Any, where: str) -> M:
    """``body`` as ``model``, else a :class:`ResponseValidationError` naming its first problem."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
    location = list(first["loc"])
    if location[:1] == ["data"] and len(location) > 1:  # a campaign: [data, index, field...]
        item = body["data"][location[1]]
        where = f"{where}, item {location[1]}"
        if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
            where = f"{where} (id {item['id']!r})"
        location = location[2:]
    name = ".".join(map(str, location)) or "body"
    where = f"{where}: field {name!r}"
    if first["type"] == "missing":
        raise ResponseValidationError(f"{where} is missing")
    what, got = first["msg"].removeprefix("Value error, "), first.get("input")
    text = repr(got)
    shown = text if len(text) <= 40 else text[:37] + "..."
    raise ResponseValidationError(f"{where}: {what}, got {type(got).__name__} {shown}")


def parse_campaign_page(body: Any, requested_page: int) -> CampaignPage:
    """A ``GET /api/campaigns`` body; ``requested_page`` names it in errors."""
    where = f"campaigns page {requested_page}"
    parsed = validate(_PageBody, body, where)
    if (got := parsed.pagination.page) != requested_page:
        raise ResponseValidationError(
            f"{where}: field 'pagination.page' is {got}, expected {requested_page}"
        )
    return CampaignPage(**parsed.pagination.model_dump(), campaigns=parsed.data, raw=body)


def parse_sync_response(body: Any, campaign_id: str) -> datetime:
    """A ``POST /api/campaigns/{id}/sync`` body; returns its ``synced_at``."""
    where = f"sync of campaign {campaign_id!r}"
    parsed = validate(_SyncBody, body, where)
    if parsed.campaign_id not in (None, campaign_id):
        raise ResponseValidationError(
            f"{where}: field 'campaign_id' is {parsed.campaign_id!r}, expected {campaign_id!r}"
        )
    return parsed.synced_at


def parse_token(body: Any) -> _TokenBody:
    """A ``POST /auth/token`` body (its token never appears in an error)."""
    try:
        return _TokenBody.model_validate(body)
    except ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"])) or "body" for e in error.errors()})
    raise ResponseValidationError(f"POST /auth/token: invalid field(s) {', '.join(fields)}")
