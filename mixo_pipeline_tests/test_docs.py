"""The reference documents stay true to the code: every setting is listed with its default."""

from __future__ import annotations

import re
from functools import reduce

import pytest

from mixo_pipeline.ad_platform.settings import ClientSettings
from mixo_pipeline.database import REPO_ROOT
from mixo_pipeline.settings import CLIENT_PREFIX, PREFIX, Settings, load_settings

SECRETS = (
    "AD_PLATFORM_API_URL",
    "AD_PLATFORM_EMAIL",
    "AD_PLATFORM_PASSWORD",
    "DATABASE_URL",
    "MIXO_ALERT_WEBHOOK_URL",
)
ENV_LINE = re.compile(r"^#? ?([A-Z][A-Z0-9_]+)=(.*)$", re.MULTILINE)


def setting_variables() -> dict[str, tuple[str, ...]]:
    """Each settings variable and where its value lands in :class:`Settings`."""
    variables: dict[str, tuple[str, ...]] = {}
    for name, field in Settings.model_fields.items():
        if name != "client":
            variables[str(field.validation_alias or f"{PREFIX}{name.upper()}")] = (name,)
    for name in ClientSettings.model_fields:
        variables[f"{CLIENT_PREFIX}{name.upper()}"] = ("client", name)
    return variables


@pytest.mark.parametrize("document", [".env.example", "docs/configuration.md"])
def test_every_variable_is_documented(document: str) -> None:
    text = (REPO_ROOT / document).read_text()
    missing = [v for v in [*setting_variables(), *SECRETS] if not re.search(rf"\b{v}\b", text)]
    assert not missing, f"{document} does not mention {missing}"


def test_env_example_shows_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    variables = setting_variables()
    shown = dict(ENV_LINE.findall((REPO_ROOT / ".env.example").read_text()))
    for variable in variables:
        monkeypatch.delenv(variable, raising=False)
    defaults = load_settings()
    for variable, path in variables.items():
        default = reduce(getattr, path, defaults)
        if default is None:
            continue  # .env.example shows an example value, not a default
        monkeypatch.setenv(variable, shown[variable])
        assert reduce(getattr, path, load_settings()) == default, (variable, shown[variable])
        monkeypatch.delenv(variable)


def test_the_readme_is_a_front_door_and_docs_cite_no_outside_file() -> None:
    assert len((REPO_ROOT / "README.md").read_text().splitlines()) <= 250
    for path in [REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md")]:
        assert "shared/spec" not in path.read_text(), path


def test_every_test_the_failure_modes_name_exists() -> None:
    # A row names the test that fails when its behaviour breaks: a renamed test must not leave
    # the row pointing at nothing. ``::name`` alone continues the file named before it.
    tests = REPO_ROOT / "mixo_pipeline_tests"
    reference = re.compile(r"`([\w/]+\.py)?::(\w+)(?:\[[^\]]*\])?`")
    missing, named = [], 0
    for line in (REPO_ROOT / "docs" / "failure-modes.md").read_text().splitlines():
        file = None
        for match in reference.finditer(line):
            file = match.group(1) or file
            path = tests / (file or "")
            names = re.findall(r"^def (\w+)\(", path.read_text(), re.M) if path.is_file() else []
            named += 1
            if match.group(2) not in names:
                missing.append(f"{file}::{match.group(2)}")
    assert named > 50 and not missing, missing
