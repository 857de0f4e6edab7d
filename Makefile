# Two entry points: `make demo` (the main job on embedded synthetic data, no download) and
# `make test` (the test suite). Both set up .venv first; set-up is skipped when nothing changed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: demo test setup system-deps clean

demo: setup
	$(PY) -m demo

test: setup
	$(PY) -m pytest tests -q --durations=15

setup: $(STAMP) system-deps

# nsgt's setup.py imports numpy without declaring it, so it is installed in a second step,
# without build isolation, once numpy and setuptools are in place (../shared/design/dependencies.md).
$(STAMP): requirements.txt requirements-nsgt.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-build-isolation -r requirements-nsgt.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

# ffmpeg/ffprobe (musdb and museval need them) and, for the listening-page test, chromium.
system-deps:
	@sh scripts/system_deps.sh

clean:
	rm -rf $(VENV) demo_out
