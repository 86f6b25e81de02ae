# One entry point for newcomers and CI: `make demo`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test lint unit infra e2e demo demo-engine synth bench clean bench-deps bench-peers corpus train

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

# Engine bench (not part of `make test`): Debian packages from bench/requirements-debian.txt, the
# peers (grooveclean, with torch) in their own virtualenv bench/.venv-peers, never in .venv.
PEERS := bench/.venv-peers

bench-deps:
	@command -v apt-get >/dev/null || { echo "bench-deps: needs apt-get (Debian/Ubuntu); install the packages of bench/requirements-debian.txt by hand"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$(grep -v '^#' bench/requirements-debian.txt)

bench-peers: $(PEERS)/.installed

$(PEERS)/.installed: requirements-bench.txt
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install --quiet -r requirements-bench.txt
	touch $@

corpus: venv
	@command -v espeak-ng >/dev/null && command -v fluidsynth >/dev/null || { echo "corpus: missing Debian packages; run: make bench-deps"; exit 1; }
	$(BIN)/python -m bench.corpus

train: corpus
	$(BIN)/python -m bench.train_verifier

bench: corpus bench-peers
	$(BIN)/python -m bench.engine_bench --split test
	$(BIN)/python -m bench.engine_bench --split valid
	$(BIN)/python -m bench.engine_bench --split train --no-grooveclean

clean:
	rm -rf $(VENV) cdk.out out .pytest_cache .ruff_cache
