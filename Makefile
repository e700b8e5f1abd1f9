# The commands a newcomer needs. `make run` serves the app, `make test` runs every test.
# Spin is used when it is installed (or SPIN_BIN names it); devhost otherwise.

SPIN ?= $(or $(SPIN_BIN),$(shell command -v spin 2>/dev/null))
DEVHOST := target/host/devhost
COMPONENTS := -p user-component -p board-component -p probe-component
HOST_FLAGS := --runtime-config-file runtime-config.toml

# A second build of user-component with another build id, for the live-swap test.
SWAP_TEST_BUILD := target/swap-test/user_component.wasm
USER_SOURCES := $(shell find user-component service-kit -name '*.rs' -o -name Cargo.toml) Cargo.toml

# Python tools the tests drive, pinned, in a local virtualenv.
VENV := .venv
PYTHON_TOOLS := schemathesis==4.32.5 kubernetes-validate==1.37.0 jsonschema==4.26.0 pyyaml==6.0.3

.PHONY: build components devhost run split swap tools test bench lint fmt

## Build the three wasm components (the app's two and the test probe) and devhost.
build: components devhost

components: $(SWAP_TEST_BUILD)
	cargo build --target wasm32-wasip1 --release $(COMPONENTS)

$(SWAP_TEST_BUILD): $(USER_SOURCES)
	SERVICE_BUILD_ID=swap-test cargo build --target wasm32-wasip1 --release -p user-component
	mkdir -p $(dir $@)
	cp target/wasm32-wasip1/release/user_component.wasm $@

devhost:
	cargo build --profile host -p devhost

## Serve the whole app on 127.0.0.1:3000 (one process, board reaches user by chaining).
run: build
ifneq ($(SPIN),)
	@echo "Running on Spin ($(SPIN))"
	$(SPIN) up $(HOST_FLAGS)
else
	@echo "Spin is not installed: running on devhost"
	$(DEVHOST) $(HOST_FLAGS) --watch
endif

## The two services as two processes: user on 127.0.0.1:3001, board on 127.0.0.1:3002.
split: build
	scripts/split

## Rebuild one component and put it into service without touching the other:
## make swap COMPONENT=user-component
swap:
	scripts/swap $(COMPONENT)

## Every test: unit tests of each crate and the world check, then the end-to-end suites on
## devhost and again on Spin when it is available; fails if a process of the run is left.
test: build tools
	scripts/test

tools: $(VENV)/.installed

$(VENV)/.installed:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet $(PYTHON_TOOLS)
	touch $@

## Throughput, latency, start-up and footprint on every available host, in one run:
## bench/results/<date>.{json,md}.
bench: build
	python3 bench/run.py

## Formatting and clippy, warnings denied, on the host and on the wasm target.
lint:
	cargo fmt --all --check
	cargo clippy --profile host --workspace --all-targets -- -D warnings
	cargo clippy --target wasm32-wasip1 --release $(COMPONENTS) -- -D warnings

fmt:
	cargo fmt --all
