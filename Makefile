# Two commands are the contract: `make demo` and `make test` (README.md).
# GPU users: make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
STORE ?= runs
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-loop test test-all lab bench lint venv clean-runs

venv: $(STAMP)

# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_SPEC)
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

# The pipeline for every character, then the closed-loop story on nabi (~80 s at demo size): a bad
# version at 20% -> alert -> auto-rollback -> negatives -> a new version that passes the gates.
demo: venv
	$(BIN)/lora demo build --store $(STORE)
	$(BIN)/lora run --all --store $(STORE)
	$(BIN)/lora demo closed-loop --character nabi --store $(STORE)
	@echo "Reports: $(STORE)/index.html; per run $(STORE)/<character>/<run_id>/index.html (newest below)"
	@ls -dt $(STORE)/*/*/index.html 2>/dev/null | head -4

# The closed-loop story alone (after `make demo`).
demo-loop: venv
	$(BIN)/lora demo closed-loop --character nabi --store $(STORE)

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check lora_lib tests

lab: venv
	$(BIN)/jupyter lab notebooks/

bench: venv
	$(BIN)/lora bench --store $(STORE)

clean-runs:
	@echo "runs/ holds every artifact; remove it yourself if you mean it: rm -rf $(STORE)/*"
