# Two set-up commands on a fresh machine: `make book` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PROFILE ?= classroom

.PHONY: install book test bench student clean

install: $(STAMP)

# One pip command installs torch, torchvision and everything else together (pinned in
# pyproject.toml), so nothing can resolve an unpinned, multi-GB torch.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test]"
	rm -f $(VENV)/.installed-* && touch $@

book: install
	$(PY) -m paperkit.book --profile $(PROFILE)

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# The chapters without their solutions and outputs, to hand out (paperkit.teaching).
student: install
	$(PY) -m paperkit.teaching student --out student/

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf _build book/chapters book/_static/plotly.min.js book/_static/mathjax runs student
