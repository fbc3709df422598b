# Set-up and reproducible jobs. `make demo` and `make test` work on a fresh machine.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := src/vliqa/samples/abdomen_ct_dicom

.PHONY: demo test install install-dev lint bench dataset clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"

demo: install
	$(BIN)/vliqa inspect $(SAMPLE)
	$(BIN)/vliqa preview $(SAMPLE) --slice 10 --window abdomen -o out/demo_preview.png
	@echo "preview written to out/demo_preview.png"

test: install-dev
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check src tests bench

bench: install-dev
	$(BIN)/python bench/io_bench.py
	$(BIN)/python bench/simulate_bench.py

# The shipped default training set: real CT from the bundled samples and ../shared/data plus phantoms.
dataset: install
	$(BIN)/vliqa data build --source default --n 2000 --out data/ctiqa-default --seed 0

clean:
	rm -rf $(VENV) out build *.egg-info
