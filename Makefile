# Two commands do all the set-up: `make demo` (install + backtest + report), `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint docs bench clean

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info[:2] != (3, 11))" || { echo "need Python 3.11: run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python run.py backtest --report reports/demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The docs site (mkdocs.yml, docs/): strict, so a broken link or a missing page fails.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir build/site

bench: $(STAMP)
	$(BIN)/python bench/bench_spine.py
	$(BIN)/python bench/bench_credit_spread.py
	$(BIN)/python bench/bench_ml.py
	$(BIN)/python bench/bench_direction.py
	$(BIN)/python bench/bench_data_fetch.py
	$(BIN)/python bench/bench_ib_latency.py
	$(BIN)/python bench/bench_sweep.py
	$(BIN)/python bench/bench_labels.py
	$(BIN)/python bench/bench_startup.py
	$(BIN)/python bench/bench_fold.py
	$(BIN)/python bench/bench_model_size.py
	$(BIN)/python bench/bench_world.py
	$(BIN)/python bench/bench_paper_signals.py
	$(BIN)/python bench/soak_paper.py
	$(BIN)/python bench/bench_portfolio.py
	$(BIN)/python bench/bench_regime_edge.py
	$(BIN)/python bench/bench_direction_skill.py
	$(BIN)/python bench/bench_report.py

clean:
	rm -rf $(VENV) reports build site *.egg-info .pytest_cache .ruff_cache
