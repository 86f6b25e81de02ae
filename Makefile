# One entry point for newcomers and CI: `make demo`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test lint unit infra e2e demo demo-engine synth bench clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check .

test: venv lint
	$(BIN)/pytest

unit: venv
	$(BIN)/pytest tests/unit

infra: venv
	$(BIN)/pytest tests/infra

e2e: venv
	$(BIN)/pytest tests/e2e

demo: venv
	$(BIN)/declick local run samples/keyboard_speech.wav --out out --report out/before_after.png

# The same, with the engine backend deployed by the stack (-c declick:backend=engine) instead of the service.
demo-engine: venv
	$(BIN)/declick local run samples/keyboard_speech.wav --backend engine --out out/engine

synth: venv
	$(BIN)/python app.py

bench: venv
	$(BIN)/python -m bench.engine_bench

clean:
	rm -rf $(VENV) cdk.out out .pytest_cache .ruff_cache
