# Set-up and everyday commands; needs only python3 (>= 3.11) on the machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint drill sim kafka hub package wheel clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)  ## start the terminal on the built-in simulator and SQLite
	$(BIN)/quant-terminal

test: $(STAMP)  ## run the whole test suite (Qt offscreen; MariaDB tests start their own server)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

sim: $(STAMP)  ## the simulator alone on 127.0.0.1:7497
	$(BIN)/quant-terminal sim

KAFKA_HOME ?= $(HOME)/.local/share/quant-terminal/kafka
KAFKA_PORT ?= 19092

kafka:  ## a local Apache Kafka broker for the desk hub (KRaft, one node; Java 17 + Maven; data kept in KAFKA_HOME)
	KAFKA_HOME=$(KAFKA_HOME) KAFKA_PORT=$(KAFKA_PORT) bash scripts/start-kafka.sh

hub: $(STAMP)  ## the desk hub on that broker and the built-in simulator (terminals: quant-terminal --feed kafka://127.0.0.1:19092)
	$(BIN)/quant-terminal hub --kafka 127.0.0.1:$(KAFKA_PORT)

bench: $(STAMP)  ## every benchmark in tests/bench
	for script in tests/bench/*_bench.py; do QT_QPA_PLATFORM=offscreen $(BIN)/python $$script || exit 1; done

lint: $(STAMP)  ## ruff on everything, mypy on domain and services (settings in pyproject.toml)
	$(BIN)/ruff check terminal tests
	$(BIN)/mypy

drill: $(STAMP)  ## the order-safety drill: 10 simulator restarts and 5 kill -9 of the terminal mid-order
	$(BIN)/python tests/drills/order_drill.py --restarts 10 --kills 5

package: $(STAMP)  ## the desktop bundle dist/quant-terminal/ (PyInstaller) and its release .tar.gz with install.sh
	$(BIN)/pip install --quiet -e ".[package]"
	PYTHON=$(BIN)/python bash packaging/build.sh

wheel: $(STAMP)  ## the wheel and sdist in dist/ (pipx install dist/quant_terminal-*.whl)
	$(BIN)/pip install --quiet -e ".[package]"
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
