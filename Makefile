# The two commands of the course:  make lab  (learn)   make test  (check everything)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

NOTEBOOK_DIRS := notebooks $(wildcard solutions)

.PHONY: lab test unit notebooks exercises book bench clean-cache

# Create .venv when missing and install the course into it (editable, with the dev tools), plus the
# course's JupyterLab settings (lab/overrides.json: no "get notified about news" prompt), for this .venv only.
# Re-runs only when pyproject.toml or the settings change.
$(STAMP): pyproject.toml lab/overrides.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp lab/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $(STAMP)

# JupyterLab on the lesson list (notebooks/)
lab: $(STAMP)
	$(PY) -m jupyter lab --notebook-dir=. --LabApp.default_url=/lab/tree/notebooks $(ROOT_FLAG)

# exercises/ in sync with solutions/, then unit tests and every lesson and solution notebook executed
# top to bottom by nbval, in one pytest run. Progress bars are off: nbval waits only 5 s for a cell's
# remaining output, and a long training cell's widget updates can exceed that.
test: $(STAMP)
	$(PY) -m mtl_course build-exercises --check
	MPLBACKEND=Agg MTL_COURSE_PROGRESS=0 $(PY) -m pytest tests $(NOTEBOOK_DIRS) --nbval-lax --nbval-current-env --durations=25 \
		-p no:cacheprovider

unit: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest tests -p no:cacheprovider

notebooks: $(STAMP)
	MTL_COURSE_PROGRESS=0 $(PY) -m pytest $(NOTEBOOK_DIRS) --nbval-lax --nbval-current-env -p no:cacheprovider

# Regenerate the student notebooks from solutions/ (never edit exercises/ by hand).
exercises: $(STAMP)
	$(PY) -m mtl_course build-exercises

# The rendered course: the README as the front page, every lesson executed (myst-nb), in build/book/.
# Progress bars off (static pages); MPLBACKEND unset so that the kernels draw figures inline.
book: $(STAMP)
	env -u MPLBACKEND MTL_COURSE_PROGRESS=0 $(PY) -m sphinx -b html -c book . build/book
	@echo "open build/book/index.html"

bench: $(STAMP)
	$(PY) benchmarks/bench_data.py
	$(PY) benchmarks/bench_trainer.py

clean-cache:
	rm -rf data/cache
