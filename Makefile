# The README's commands. Everything starts from a bare Python 3.11: the first target that needs
# the virtualenv creates it and installs the project into it.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# ACCOUNTS=5: the mock gets client_1..client_5, synced through an accounts file the launcher writes.
STACK := $(if $(ACCOUNTS),--accounts $(ACCOUNTS),)

.PHONY: run test ui dg status mock lint format clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## make run: start the embedded Postgres and the mock API, run the main job, print the summary.
## REALISTIC=1 runs at the platform's true 10-requests-a-minute pace; ACCOUNTS=5 syncs five accounts.
run: $(STAMP)
	$(BIN)/python -m mixo_pipeline.cli $(if $(REALISTIC),--time-scale 1,) $(STACK) $(ARGS)

## make test: the whole test suite (what CI runs).
test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

## make ui: the Dagster UI and daemon (dg dev) on the same Postgres-backed instance as make run.
## ACCOUNTS=5: five accounts, synced at once by the recovery sensor; PORT=3001: the UI's port.
ui: $(STAMP)
	$(BIN)/python -m mixo_pipeline.cli --ui $(STACK) $(if $(PORT),--port $(PORT),) $(ARGS)

## make dg ARGS="check defs": any dg command on the same stack (database, mock, instance).
dg: $(STAMP)
	$(BIN)/python -m mixo_pipeline.cli $(STACK) --dg $(ARGS)

## make status ARGS="--failed-and-missing": each account's sync status (see docs/operations.md).
status: $(STAMP)
	@$(BIN)/python -m mixo_pipeline.cli.accounts_status $(ARGS)

## make mock ARGS="--time-scale 0.1": the mock ad platform alone.
mock: $(STAMP)
	$(BIN)/python -m mock_api $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .mixo
