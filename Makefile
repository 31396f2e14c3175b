# Two commands do all the set-up on a fresh machine:
#   make demo   - create .venv, install the runtime, open the dashboard on sample_logs/
#   make test   - create .venv, install runtime + test dependencies, run the whole suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# The MLflow tests' tracking server: full mlflow caps pyarrow below our pin, so it gets a venv of its own.
MLFLOW_VENV ?= .venv-mlflow

.PHONY: demo live-demo watch-demo test bench samples clean chromium

$(VENV)/.runtime: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

$(MLFLOW_VENV)/.installed: requirements-mlflow-server.txt
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install -q --upgrade pip
	$(MLFLOW_VENV)/bin/python -m pip install -q -r requirements-mlflow-server.txt
	touch $@

# `streamlit run app.py`, with the landing folder read as the server starts (forge_monitor/ui/serve.py).
demo: $(VENV)/.runtime
	$(PY) -m forge_monitor.ui.serve app.py --server.address 127.0.0.1 --server.port $(PORT)  # the rest: .streamlit/config.toml

# The browser test drives Debian's chromium (prebuilt browser downloads are not available): install it
# when it is missing and we are root; otherwise the browser test skips with a loud message (not in CI).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing and cannot be installed here: the browser test will skip"; fi; }

test: $(VENV)/.dev $(MLFLOW_VENV)/.installed chromium
	$(PY) -m pytest -q

bench: $(VENV)/.dev chromium
	$(PY) bench/ingest_bench.py; ingest=$$?; $(PY) bench/detect.py; detect=$$?; \
	$(PY) bench/overview_bench.py; overview=$$?; $(PY) bench/page_bench.py; page=$$?; \
	exit $$((ingest || detect || overview || page))

samples: $(VENV)/.runtime
	$(PY) -m forge_monitor samples --out sample_logs

clean:
	rm -rf $(VENV) $(MLFLOW_VENV) test-artifacts

live-demo: $(VENV)/.runtime
	$(PY) -m forge_monitor demo --live --port $(PORT)

# A sample run replayed while `forge-monitor watch --dry-run` prints each new alert's message once.
watch-demo: $(VENV)/.runtime
	$(PY) -m forge_monitor demo --watch --rate 40
