from mixo_pipeline.cli.main import main

raise SystemExit(main())
