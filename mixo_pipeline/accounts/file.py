"""The accounts file (``MIXO_ACCOUNTS_FILE``, format in ``accounts.example.yaml``), naming each
password's variable, never a password. Errors name file, entry and field, never echo a value."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from mixo_pipeline.ad_platform.models import Account
from mixo_pipeline.settings import load_settings, variable_name

FILE_VARIABLE = variable_name(("accounts_file",))
SECRET_FIELDS = frozenset({"password", "secret", "token", "api_key"})  # refused: see password_env


class AccountsConfigError(ValueError):
    """The accounts file is missing, unreadable or invalid; the message says where and what."""


class AccountError(LookupError):
    """A partition's account is not configured or its password variable is unset (says which)."""


def _http_url(value: str) -> str:
    url = urlparse(value)
    if url.username or url.password:
        raise ValueError("must not carry credentials; use email/password_env")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError("must be an http(s) URL with a host")
    return value.rstrip("/")


BaseUrl = Annotated[str, AfterValidator(_http_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Defaults(_Strict):
    base_url: BaseUrl | None = None


class AccountConfig(_Strict):
    """One configured account, without its secret: safe to log and compare."""

    # Client ids are partition keys, X-Client-ID headers and row keys: an alphabet safe in all.
    client_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    base_url: BaseUrl
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    password_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")  # a variable's name

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict) and (found := sorted(SECRET_FIELDS & data.keys())):
            raise ValueError(
                f"field {found[0]!r} would put a secret in the file; name the environment "
                "variable holding it with 'password_env' instead"
            )
        return data


class AccountsFile(_Strict):
    defaults: Defaults = Defaults()
    accounts: list[AccountConfig]

    @model_validator(mode="before")
    @classmethod
    def _inherit_defaults(cls, data: Any) -> Any:
        defaults = data.get("defaults") if isinstance(data, dict) else None
        if not isinstance(defaults, dict) or not isinstance(data.get("accounts"), list):
            return data
        inherited = {k: v for k, v in defaults.items() if k in Defaults.model_fields}
        accounts = [{**inherited, **e} if isinstance(e, dict) else e for e in data["accounts"]]
        return {**data, "accounts": accounts}


def load_account_configs(path: Path | None = None) -> list[AccountConfig]:
    """Every account of ``path`` (default ``MIXO_ACCOUNTS_FILE``) in file order; ``[]`` without a
    file. A missing or invalid file is an error, never ``[]``: that would retire every partition."""
    path = path or load_settings().accounts_file
    if path is None:
        return []
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AccountsConfigError(f"{path} (from {FILE_VARIABLE}) does not exist") from None
    except OSError as error:
        raise AccountsConfigError(f"{path} cannot be read: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise AccountsConfigError(f"{path} is not valid YAML{at}") from None
    try:
        configs = AccountsFile.model_validate(document).accounts
    except ValidationError as error:
        first = error.errors(include_input=False, include_url=False)[0]
        loc, where = first["loc"], ""
        if loc[:1] == ("accounts",) and len(loc) > 1:  # "entry 2 (acme): ", never another value
            entry = document["accounts"][loc[1]]
            client_id = entry.get("client_id") if isinstance(entry, dict) else None
            label = f" ({client_id})" if isinstance(client_id, str) and client_id else ""
            where, loc = f"entry {int(loc[1]) + 1}{label}: ", loc[2:]
        elif loc[:1] == ("defaults",) and len(loc) > 1:
            where, loc = "defaults: ", loc[1:]
        where += f"field {loc[0]!r}: " if loc else ""
        # pydantic's message, without its prefix for our checks or our class names
        message = first["msg"].removeprefix("Value error, ").partition(" or instance of ")[0]
        raise AccountsConfigError(f"{path}: {where}{message}") from None
    first_entry: dict[str, int] = {}
    for number, config in enumerate(configs, start=1):
        if (first_number := first_entry.setdefault(config.client_id, number)) != number:
            raise AccountsConfigError(
                f"{path}: entry {number} ({config.client_id}): field 'client_id' is already "
                f"used by entry {first_number}"
            )
    return configs


def configured_base_urls(default: Account) -> dict[str, str]:
    """Client id -> base URL of each configured account, in file order (without a file: default)."""
    if load_settings().accounts_file is None:
        return {default.client_id: default.base_url}
    return {config.client_id: config.base_url for config in load_account_configs()}


def account_resolver(default: Account) -> Callable[[str], Account]:
    """Partition (client id) -> account, password included: ``default`` without a file, else the
    file's (read once, here); each password is read when its account is resolved."""
    path = load_settings().accounts_file
    configs = {config.client_id: config for config in load_account_configs(path)} if path else {}

    def resolve(client_id: str) -> Account:
        if path is None and client_id == default.client_id:
            return default
        if config := configs.get(client_id):
            if not (password := os.environ.get(config.password_env, "")):
                raise AccountError(
                    f"account {client_id!r}: environment variable {config.password_env} "
                    "(its password) is not set"
                )
            return Account(client_id, config.base_url, config.email, password)
        if path is None:
            why = f"{FILE_VARIABLE} is unset: the only account is {default.client_id!r}"
        else:
            why = f"it is not listed in {path}; add it, or remove the partition if it was retired"
        raise AccountError(f"unknown account {client_id!r}: {why}")

    return resolve
