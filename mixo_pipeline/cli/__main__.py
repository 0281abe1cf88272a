"""``python -m mixo_pipeline.cli``: ``make run``, ``make ui`` and ``make dg``."""

from mixo_pipeline.cli.main import main

raise SystemExit(main())
