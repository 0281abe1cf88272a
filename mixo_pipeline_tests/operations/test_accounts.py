"""The accounts file: parsing, validation messages, and resolving a partition to its account."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixo_pipeline.accounts import (
    ACCOUNTS_FILE_ENV,
    AccountConfig,
    AccountsConfigError,
    MissingSecretError,
    UnknownAccountError,
    account_resolver,
    load_account_configs,
)
from mixo_pipeline.ad_platform.models import Account

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT = Account(
    client_id="default", base_url="http://api.test", email="me@x.test", password="pw-default"
)


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


def test_no_file_configured_means_no_configured_accounts(monkeypatch) -> None:
    monkeypatch.delenv(ACCOUNTS_FILE_ENV, raising=False)
    assert load_account_configs() == []


def test_configured_file_that_is_missing_is_an_error(monkeypatch, tmp_path) -> None:
    missing = tmp_path / "nope.yaml"
    monkeypatch.setenv(ACCOUNTS_FILE_ENV, str(missing))
    with pytest.raises(AccountsConfigError, match=f"{missing}.*does not exist"):
        load_account_configs()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accounts: [\n  - client_id: a\n", r"not valid YAML at line"),
        ("- a\n", r"expected a mapping with an 'accounts' list"),
        ("accounts: {}\n", r"'accounts' must be a list"),
        ("acounts: []\n", r"unknown top-level key\(s\) \['acounts'\]"),
        (
            "accounts:\n  - client_id: acme\n    base_url: http://h\n    email: a@b\n",
            r"entry 1 \(acme\): missing required field 'password_env'",
        ),
        (
            "accounts:\n  - client_id: acme\n    base_url: http://h\n    email: a@b\n"
            "    password: hunter2\n",
            r"entry 1 \(acme\): field 'password' would put a secret in the file",
        ),
        (
            "accounts:\n  - client_id: acme\n    base_url: ftp://h\n    email: a@b\n"
            "    password_env: P\n",
            r"entry 1 \(acme\): field 'base_url' 'ftp://h' must be an http\(s\) URL",
        ),
        (
            "accounts:\n  - client_id: acme\n    base_url: http://u:hunter2@h\n    email: a@b\n"
            "    password_env: P\n",
            r"entry 1 \(acme\): field 'base_url' must not carry credentials",
        ),
        (
            "accounts:\n  - client_id: 'bad id'\n    base_url: http://h\n    email: a@b\n"
            "    password_env: P\n",
            r"entry 1 \(bad id\): field 'client_id' 'bad id' must start with",
        ),
        (
            "accounts:\n  - client_id: acme\n    base_url: http://h\n    email: a@b\n"
            "    password_env: 'hunter2!'\n",
            r"field 'password_env' must be an environment variable name",
        ),
        (
            "defaults: {base_url: http://h}\naccounts:\n"
            "  - {client_id: a, email: a@b, password_env: P}\n"
            "  - {client_id: a, email: c@d, password_env: Q}\n",
            r"entry 2 \(a\): client_id 'a' is already used by entry 1",
        ),
        (
            "defaults: {email: a@b}\naccounts: []\n",
            r"defaults: unknown field\(s\) \['email'\]",
        ),
        (
            "accounts:\n  - {client_id: a, base_url: http://h, email: a@b, password_env: P,"
            " region: eu}\n",
            r"entry 1 \(a\): unknown field\(s\) \['region'\]",
        ),
    ],
)
def test_validation_errors_name_file_entry_and_field(tmp_path, text, message) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(AccountsConfigError, match=message) as raised:
        load_account_configs(path)
    assert str(path) in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_resolve_without_file_accepts_only_the_default_account(monkeypatch) -> None:
    monkeypatch.delenv(ACCOUNTS_FILE_ENV, raising=False)
    assert account_resolver(DEFAULT)("default") is DEFAULT
    with pytest.raises(UnknownAccountError, match=r"unknown account 'client_7'.*'default'"):
        account_resolver(DEFAULT)("client_7")


def test_resolve_with_file_reads_the_named_secret(monkeypatch, tmp_path) -> None:
    path = _write(
        tmp_path,
        "defaults: {base_url: 'http://api.test/'}\naccounts:\n"
        "  - {client_id: acme, email: ops@acme.test, password_env: ACME_PW}\n",
    )
    monkeypatch.setenv(ACCOUNTS_FILE_ENV, str(path))
    monkeypatch.setenv("ACME_PW", "s3cret-acme")
    account = account_resolver(DEFAULT)("acme")
    assert account == Account("acme", "http://api.test", "ops@acme.test", "s3cret-acme")
    assert "s3cret-acme" not in repr(account)
    # With a file the file is the whole truth: the env-bound default is not implicitly kept.
    with pytest.raises(UnknownAccountError, match=rf"'default': it is not listed in {path}"):
        account_resolver(DEFAULT)("default")


def _use_acme_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The accounts file (one account, ``acme``, its password in ``ACME_PW``), in use."""
    path = _write(
        tmp_path,
        "accounts:\n  - {client_id: acme, base_url: http://h, email: a@b, password_env: ACME_PW}\n",
    )
    monkeypatch.setenv(ACCOUNTS_FILE_ENV, str(path))
    return path


def test_resolve_names_the_unset_variable_never_a_value(monkeypatch, tmp_path) -> None:
    _use_acme_file(monkeypatch, tmp_path)
    monkeypatch.setenv("ACME_PW", "")
    with pytest.raises(MissingSecretError, match=r"account 'acme': environment variable ACME_PW"):
        account_resolver(DEFAULT)("acme")


def test_a_resolver_reads_the_file_once_and_secrets_when_resolving(monkeypatch, tmp_path) -> None:
    path = _use_acme_file(monkeypatch, tmp_path)
    resolve = account_resolver(DEFAULT)
    path.unlink()  # a step's accounts are resolved from the file as it was when the step began
    monkeypatch.setenv("ACME_PW", "rotated")
    assert resolve("acme").password == "rotated"
