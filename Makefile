# Two entry points: `make demo` and `make test`. Both work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test venv system-tools bench clean

$(BIN)/c12exporter: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint,types]' tox
	touch $@

venv: $(BIN)/c12exporter

system-tools:
	scripts/install-system-tools

demo: venv system-tools
	$(BIN)/c12exporter demo

test: venv system-tools
	$(BIN)/tox run -e lint,types,py311

# The MIB's tables written from the declarations, and the copies of the package's MIB files
# at the top of the repository, for an NMS.
.PHONY: mibs generate
mibs: venv
	$(BIN)/python -m c12exporter.snmp.mibgen
	$(BIN)/c12exporter mib --output mibs

# Everything written from the declarations: the MIB and its copies, the generated parts
# of docs/, the alert rules, the dashboards and the Zabbix templates (each has a test
# that fails while it is stale).
generate: mibs
	$(BIN)/c12exporter docs
	$(BIN)/python -m alerts.generate
	$(BIN)/python -m dashboards.generate
	$(BIN)/python -m zabbix.generate

bench: venv system-tools
	$(BIN)/python bench/poll_fleet.py

clean:
	rm -rf $(VENV) .tox
