"""The code location loads, as `dg check defs` and the webserver load it."""

from __future__ import annotations

import dagster as dg

from mixo_pipeline.definitions import defs


def test_definitions_load() -> None:
    loaded = defs() if callable(defs) else defs
    assert isinstance(loaded, dg.Definitions)
    dg.Definitions.validate_loadable(loaded)
