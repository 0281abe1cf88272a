"""The command line: ``make run``, ``make ui``, ``make dg`` (:mod:`.main`), ``accounts_status``."""
