"""The accounts file: parsing, validation messages, and resolving a partition to its account."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixo_pipeline.accounts.file import (
    FILE_VARIABLE,
    AccountConfig,
    AccountError,
    AccountsConfigError,
    account_resolver,
    configured_base_urls,
    load_account_configs,
)
from mixo_pipeline.ad_platform.models import Account

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT = Account(
    client_id="default", base_url="http://api.test", email="me@x.test", password="pw-default"
)
ENTRY = "client_id: acme, base_url: http://h, email: a@b, password_env: P"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(text)
    return path


def test_example_file_parses_and_inherits_defaults() -> None:
    configs = load_account_configs(REPO_ROOT / "accounts.example.yaml")
    assert [c.client_id for c in configs] == ["client_1", "client_2", "client_3"]
    assert {c.base_url for c in configs} == {"http://localhost:3001"}
    assert configs[0] == AccountConfig(
        client_id="client_1",
        base_url="http://localhost:3001",
        email="client_1@mixoads.com",
        password_env="CLIENT_1_PASSWORD",
    )


def test_no_file_configured_means_the_single_default_account(monkeypatch) -> None:
    monkeypatch.delenv(FILE_VARIABLE, raising=False)
    assert load_account_configs() == []
    assert configured_base_urls(DEFAULT) == {"default": "http://api.test"}


def test_configured_file_that_is_missing_is_an_error(monkeypatch, tmp_path) -> None:
    missing = tmp_path / "nope.yaml"
    monkeypatch.setenv(FILE_VARIABLE, str(missing))
    with pytest.raises(AccountsConfigError, match=f"{missing} \\(from {FILE_VARIABLE}\\).*exist"):
        load_account_configs()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accounts: [\n  - client_id: hunter2\n", r"is not valid YAML at line \d+, column \d+$"),
        ("- a\n", r"yaml: Input should be a valid dictionary"),
        ("accounts: {}\n", r"field 'accounts': Input should be a valid list"),
        ("acounts: []\n", r"field 'accounts': Field required"),
        ("accounts: []\nacounts: []\n", r"field 'acounts': Extra inputs are not permitted"),
        (
            "accounts:\n  - {client_id: acme, base_url: http://h, email: a@b}\n",
            r"entry 1 \(acme\): field 'password_env': Field required",
        ),
        (
            f"accounts:\n  - {{{ENTRY}, password: hunter2}}\n",
            r"entry 1 \(acme\): field 'password' would put a secret in the file; name the "
            r"environment variable holding it with 'password_env' instead",
        ),
        (
            f"accounts:\n  - {{{ENTRY}, token: hunter2}}\n",
            r"entry 1 \(acme\): field 'token' would put a secret in the file",
        ),
        (
            "accounts:\n  - {client_id: acme, base_url: 'ftp://hunter2', email: a@b, "
            "password_env: P}\n",
            r"entry 1 \(acme\): field 'base_url': must be an http\(s\) URL with a host",
        ),
        (
            "accounts:\n  - {client_id: acme, base_url: 'http://u:hunter2@h', email: a@b, "
            "password_env: P}\n",
            r"entry 1 \(acme\): field 'base_url': must not carry credentials",
        ),
        (
            "accounts:\n  - {client_id: 'bad id', base_url: http://h, email: a@b, "
            "password_env: P}\n",
            r"entry 1 \(bad id\): field 'client_id': String should match pattern '\^\[A-Za-z0-9\]",
        ),
        (
            "accounts:\n  - {client_id: acme, base_url: http://h, email: hunter2, "
            "password_env: P}\n",
            r"entry 1 \(acme\): field 'email': String should match pattern",
        ),
        (
            "accounts:\n  - {client_id: acme, base_url: http://h, email: a@b, "
            "password_env: 'hunter2!'}\n",
            r"entry 1 \(acme\): field 'password_env': String should match pattern '\^\[A-Za-z_\]",
        ),
        (
            "defaults: {base_url: http://h}\naccounts:\n"
            "  - {client_id: a, email: a@b, password_env: P}\n"
            "  - {client_id: a, email: c@d, password_env: Q}\n",
            r"entry 2 \(a\): field 'client_id' is already used by entry 1",
        ),
        ("defaults: {email: a@b}\naccounts: []\n", r"defaults: field 'email': Extra inputs"),
        ("defaults: {base_url: 'ftp://h'}\naccounts: []\n", r"defaults: field 'base_url': must"),
        (
            f"accounts:\n  - {{{ENTRY}}}\n  - {{{ENTRY}, region: eu}}\n",
            r"entry 2 \(acme\): field 'region': Extra inputs are not permitted",
        ),
    ],
)
def test_validation_errors_name_file_entry_and_field(tmp_path, text, message) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(AccountsConfigError, match=message) as raised:
        load_account_configs(path)
    assert str(raised.value).startswith(f"{path}")
    assert "hunter2" not in str(raised.value), "an error never echoes a value"


def test_resolve_without_file_accepts_only_the_default_account(monkeypatch) -> None:
    monkeypatch.delenv(FILE_VARIABLE, raising=False)
    assert account_resolver(DEFAULT)("default") is DEFAULT
    with pytest.raises(AccountError, match=r"unknown account 'client_7'.*'default'"):
        account_resolver(DEFAULT)("client_7")


def test_resolve_with_file_reads_the_named_secret(monkeypatch, tmp_path) -> None:
    path = _write(
        tmp_path,
        "defaults: {base_url: 'http://api.test/'}\naccounts:\n"
        "  - {client_id: acme, email: ops@acme.test, password_env: ACME_PW}\n",
    )
    monkeypatch.setenv(FILE_VARIABLE, str(path))
    monkeypatch.setenv("ACME_PW", "s3cret-acme")
    account = account_resolver(DEFAULT)("acme")
    assert account == Account("acme", "http://api.test", "ops@acme.test", "s3cret-acme")
    assert "s3cret-acme" not in repr(account)
    assert configured_base_urls(DEFAULT) == {"acme": "http://api.test"}
    # With a file the file is the whole truth: the env-bound default is not implicitly kept.
    with pytest.raises(AccountError, match=rf"'default': it is not listed in {path}"):
        account_resolver(DEFAULT)("default")


def _use_acme_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The accounts file (one account, ``acme``, its password in ``ACME_PW``), in use."""
    path = _write(
        tmp_path,
        "accounts:\n  - {client_id: acme, base_url: http://h, email: a@b, password_env: ACME_PW}\n",
    )
    monkeypatch.setenv(FILE_VARIABLE, str(path))
    return path


def test_resolve_names_the_unset_variable_never_a_value(monkeypatch, tmp_path) -> None:
    _use_acme_file(monkeypatch, tmp_path)
    monkeypatch.setenv("ACME_PW", "")
    with pytest.raises(AccountError, match=r"account 'acme': environment variable ACME_PW"):
        account_resolver(DEFAULT)("acme")


def test_a_resolver_reads_the_file_once_and_secrets_when_resolving(monkeypatch, tmp_path) -> None:
    path = _use_acme_file(monkeypatch, tmp_path)
    resolve = account_resolver(DEFAULT)
    path.unlink()  # a step's accounts are resolved from the file as it was when the step began
    monkeypatch.setenv("ACME_PW", "rotated")
    assert resolve("acme").password == "rotated"
