"""The code location's entry point: everything under ``mixo_pipeline/defs`` is loaded from there."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
