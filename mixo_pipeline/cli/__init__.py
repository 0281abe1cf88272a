"""The command line: ``make run`` / ``make ui`` / ``make dg`` (:mod:`.main` on the local stack of
:mod:`.stack`, with :mod:`.progress` and :mod:`.summary`) and :mod:`.accounts_status`."""
