"""The accounts the mock platform knows, and how they log in.

The default account imitates the platform's own documented test account, so its credentials are
defined here and nowhere else in the mock. ``--accounts N`` adds generated accounts so tests and
benchmarks can run many clients at once; ``--accounts FILE`` loads them from JSON or YAML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_CLIENT_ID = "default"
DEFAULT_EMAIL = "admin@mixoads.com"
DEFAULT_PASSWORD = "SuperSecret123!"


@dataclass(frozen=True)
class MockAccount:
    """One login on the platform, owning campaigns ``campaign_1..campaign_<campaigns>``."""

    client_id: str
    email: str
    password: str
    campaigns: int

    def __repr__(self) -> str:  # never show the password in logs or tracebacks
        return f"MockAccount(client_id={self.client_id!r}, email={self.email!r})"


def generated_account(n: int, campaigns: int) -> MockAccount:
    """The ``n``-th generated account: ``client_<n>`` / ``client_<n>@mixoads.com``."""
    return MockAccount(
        client_id=f"client_{n}",
        email=f"client_{n}@mixoads.com",
        password=f"client_{n}-password",
        campaigns=campaigns,
    )


def load_accounts(spec: int | str | Path | None, campaigns: int) -> dict[str, MockAccount]:
    """Resolve the ``--accounts`` knob into accounts keyed by client id.

    The documented default account is always present (a file entry with client id ``default``
    replaces it). ``spec`` is a count of generated accounts or the path of a JSON/YAML list of
    ``{client_id, email, password, campaigns?}``.
    """
    accounts = {
        DEFAULT_CLIENT_ID: MockAccount(
            DEFAULT_CLIENT_ID, DEFAULT_EMAIL, DEFAULT_PASSWORD, campaigns
        )
    }
    if spec is None or spec == "":
        return accounts
    count = _as_count(spec)
    if count is not None:
        for n in range(1, count + 1):
            account = generated_account(n, campaigns)
            accounts[account.client_id] = account
    else:
        for account in _read_file(Path(spec), campaigns):
            accounts[account.client_id] = account
    emails = [a.email for a in accounts.values()]
    duplicates = sorted({e for e in emails if emails.count(e) > 1})
    if duplicates:
        raise ValueError(f"accounts share an email: {', '.join(duplicates)}")
    return accounts


def _as_count(spec: int | str | Path) -> int | None:
    if isinstance(spec, int):
        count = spec
    elif isinstance(spec, str) and spec.strip().isdigit():
        count = int(spec)
    else:
        return None
    if count < 0:
        raise ValueError("accounts count must be >= 0")
    return count


def _read_file(path: Path, campaigns: int) -> list[MockAccount]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"accounts file {path}: cannot read ({exc.strerror})") from None
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"accounts file {path}: not valid JSON/YAML ({exc})") from None
    if not isinstance(raw, list):
        raise ValueError(f"accounts file {path}: must hold a list of accounts")
    accounts = []
    for index, entry in enumerate(raw):
        where = f"accounts file {path}, entry {index}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: must be a mapping")
        missing = [k for k in ("client_id", "email", "password") if not entry.get(k)]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        count = entry.get("campaigns", campaigns)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError(f"{where}: campaigns must be a non-negative integer")
        accounts.append(
            MockAccount(str(entry["client_id"]), str(entry["email"]), str(entry["password"]), count)
        )
    return accounts
