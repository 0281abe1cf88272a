"""Which ad accounts the pipeline syncs, and how each one logs in.

One deployment serves many client accounts. They are listed in a YAML file (``accounts.yaml``)
whose path comes from ``MIXO_ACCOUNTS_FILE``; each entry names the account's client id, API base
URL, login email and the *name* of the environment variable that holds its password. Secrets never
sit in the file, so it can be committed, reviewed and shared between workers like any other
configuration, while the passwords come from each worker's environment (or secret store).

Without a file the deployment has exactly one account: the ``AdPlatformResource``'s own, bound
from ``AD_PLATFORM_*`` environment variables, whose client id is normally ``default``.

The file format (``accounts.example.yaml`` at the repository root is a complete example)::

    defaults:                 # optional: fields every entry inherits unless it sets them
      base_url: https://ads.example.com
    accounts:
      - client_id: acme
        email: ops@acme.example
        password_env: ACME_AD_PASSWORD
      - client_id: globex
        base_url: https://eu.ads.example.com
        email: ads@globex.example
        password_env: GLOBEX_AD_PASSWORD

Every validation error names the file, the entry (by position and, when known, client id) and the
field, so a typo is found without reading this module.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from mixo_pipeline.ad_platform.models import Account

ACCOUNTS_FILE_ENV = "MIXO_ACCOUNTS_FILE"
"""Environment variable naming the accounts file; unset or empty means single-account mode."""

# Client ids become Dagster partition keys, ``X-Client-ID`` header values and row keys, so they
# are kept to a conservative alphabet that is safe in all three.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENTRY_FIELDS = frozenset({"client_id", "base_url", "email", "password_env"})
_DEFAULTABLE_FIELDS = frozenset({"base_url"})
# Keys that would put a secret into the file: refused with a pointer to ``password_env``.
_SECRET_FIELDS = frozenset({"password", "secret", "token", "api_key"})


class AccountsConfigError(ValueError):
    """The accounts file is missing, unreadable or invalid; the message says where and what."""


class UnknownAccountError(LookupError):
    """A partition names an account that is not configured (retired, or a typo)."""


class MissingSecretError(LookupError):
    """An account's password environment variable is unset; names the variable, never a value."""


@dataclass(frozen=True)
class AccountConfig:
    """One configured account, without its secret: safe to log, compare and keep in a cursor."""

    client_id: str
    base_url: str
    email: str
    password_env: str

    def resolve(self, environ: Mapping[str, str] | None = None) -> Account:
        """The :class:`Account` with its password read from ``password_env``."""
        env = os.environ if environ is None else environ
        password = env.get(self.password_env, "")
        if not password:
            raise MissingSecretError(
                f"account {self.client_id!r}: environment variable {self.password_env} "
                "(its password) is not set"
            )
        return Account(
            client_id=self.client_id,
            base_url=self.base_url,
            email=self.email,
            password=password,
        )


def accounts_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The configured accounts file, or ``None`` in single-account mode."""
    env = os.environ if environ is None else environ
    value = env.get(ACCOUNTS_FILE_ENV, "").strip()
    return Path(value).expanduser() if value else None


def load_account_configs(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> list[AccountConfig]:
    """Every account in the accounts file, in file order; ``[]`` when no file is configured.

    ``path`` overrides ``MIXO_ACCOUNTS_FILE``. A configured file that is missing or invalid is an
    error, never an empty list: silently syncing nothing (or retiring every partition) because of
    a typo in a path would be worse than failing loudly.
    """
    if path is None:
        path = accounts_file(environ)
        if path is None:
            return []
    return parse_account_configs(_read(path), source=str(path))


def parse_account_configs(document: Any, *, source: str) -> list[AccountConfig]:
    """Validate an already-parsed accounts document; ``source`` names it in error messages."""
    if not isinstance(document, dict):
        raise AccountsConfigError(
            f"{source}: expected a mapping with an 'accounts' list at the top level"
        )
    unknown = set(document) - {"accounts", "defaults"}
    if unknown:
        raise AccountsConfigError(
            f"{source}: unknown top-level key(s) {sorted(unknown)}; allowed: accounts, defaults"
        )
    defaults = _parse_defaults(document.get("defaults") or {}, source)
    entries = document.get("accounts")
    if not isinstance(entries, list):
        raise AccountsConfigError(f"{source}: 'accounts' must be a list of account entries")

    configs: list[AccountConfig] = []
    first_seen: dict[str, int] = {}
    for index, entry in enumerate(entries, start=1):
        config = _parse_entry(entry, defaults, source=source, index=index)
        if config.client_id in first_seen:
            raise AccountsConfigError(
                f"{source}: entry {index} ({config.client_id}): client_id "
                f"{config.client_id!r} is already used by entry {first_seen[config.client_id]}"
            )
        first_seen[config.client_id] = index
        configs.append(config)
    return configs


def account_resolver(default: Account) -> Callable[[str], Account]:
    """A function from partition (client id) to its account, with its secret, ready for a client.

    ``default`` is the ``AdPlatformResource``'s own account (from its ``AD_PLATFORM_*`` fields).
    Without an accounts file it is the only account, so a partition must be its client id. With
    a file, the file is the whole truth: the partition must be listed there (list the resource's
    own account as an entry whose ``password_env`` is ``AD_PLATFORM_PASSWORD`` to keep it).

    The file is read and validated once, here: a step syncing a batch of accounts resolves every
    one of them, and reading the file per account made that quadratic in the number of accounts.
    Secrets are read from the environment when each account is resolved.
    """
    path = accounts_file()
    if path is None:

        def only_default(client_id: str) -> Account:
            if client_id != default.client_id:
                raise UnknownAccountError(
                    f"unknown account {client_id!r}: no accounts file is configured "
                    f"({ACCOUNTS_FILE_ENV} is unset), so the only account is "
                    f"{default.client_id!r} from the AD_PLATFORM_* settings"
                )
            return default

        return only_default

    configs = {config.client_id: config for config in load_account_configs(path)}

    def from_file(client_id: str) -> Account:
        config = configs.get(client_id)
        if config is None:
            raise UnknownAccountError(
                f"unknown account {client_id!r}: it is not listed in {path} (from "
                f"{ACCOUNTS_FILE_ENV}); add it there, or remove the partition if the account was "
                "retired"
            )
        return config.resolve()

    return from_file


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AccountsConfigError(
            f"accounts file {path} (from {ACCOUNTS_FILE_ENV}) does not exist"
        ) from None
    except OSError as exc:
        raise AccountsConfigError(f"accounts file {path} cannot be read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise AccountsConfigError(f"accounts file {path} is not valid YAML{where}") from None


def _parse_defaults(defaults: Any, source: str) -> dict[str, str]:
    if not isinstance(defaults, dict):
        raise AccountsConfigError(f"{source}: 'defaults' must be a mapping")
    unknown = set(defaults) - _DEFAULTABLE_FIELDS
    if unknown:
        raise AccountsConfigError(
            f"{source}: defaults: unknown field(s) {sorted(map(str, unknown))}; "
            f"allowed: {', '.join(sorted(_DEFAULTABLE_FIELDS))}"
        )
    parsed = {}
    for name, value in defaults.items():
        parsed[name] = _check_field(name, value, f"{source}: defaults")
    return parsed


def _parse_entry(entry: Any, defaults: dict[str, str], *, source: str, index: int) -> AccountConfig:
    where = f"{source}: entry {index}"
    if not isinstance(entry, dict):
        raise AccountsConfigError(f"{where}: expected a mapping of account fields")
    client_id = entry.get("client_id")
    if isinstance(client_id, str) and client_id:
        where = f"{where} ({client_id})"
    secrets = _SECRET_FIELDS & set(entry)
    if secrets:
        raise AccountsConfigError(
            f"{where}: field {sorted(secrets)[0]!r} would put a secret in the file; "
            "name the environment variable holding it with 'password_env' instead"
        )
    unknown = set(entry) - _ENTRY_FIELDS
    if unknown:
        raise AccountsConfigError(
            f"{where}: unknown field(s) {sorted(map(str, unknown))}; "
            f"allowed: {', '.join(sorted(_ENTRY_FIELDS))}"
        )
    merged = {**defaults, **entry}
    values = {}
    for name in sorted(_ENTRY_FIELDS):
        if name not in merged or merged[name] is None:
            raise AccountsConfigError(f"{where}: missing required field {name!r}")
        values[name] = _check_field(name, merged[name], where)
    return AccountConfig(**values)


def _check_field(name: str, value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AccountsConfigError(f"{where}: field {name!r} must be a non-empty string")
    value = value.strip()
    if name == "client_id" and not _CLIENT_ID.match(value):
        raise AccountsConfigError(
            f"{where}: field 'client_id' {value!r} must start with a letter or digit and use only "
            "letters, digits, '_', '.' and '-' (at most 128 characters)"
        )
    if name == "password_env" and not _ENV_NAME.match(value):
        raise AccountsConfigError(
            f"{where}: field 'password_env' must be an environment variable name "
            "(letters, digits and '_'), not the password itself"
        )
    if name == "base_url":
        parsed = urlparse(value)
        if parsed.username or parsed.password:
            raise AccountsConfigError(
                f"{where}: field 'base_url' must not carry credentials; use email/password_env"
            )
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise AccountsConfigError(
                f"{where}: field 'base_url' {value!r} must be an http(s) URL with a host"
            )
        value = value.rstrip("/")
    if name == "email" and "@" not in value:
        raise AccountsConfigError(f"{where}: field 'email' {value!r} is not an email address")
    return value
