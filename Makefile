# The commands a newcomer needs. `make run` serves the app, `make test` runs every test.
# Spin is used when it is installed (or SPIN_BIN names it); devhost otherwise.

SPIN ?= $(or $(SPIN_BIN),$(shell command -v spin 2>/dev/null))
DEVHOST := target/host/devhost
COMPONENTS := -p user-component -p board-component -p probe-component
HOST_FLAGS := --runtime-config-file runtime-config.toml

.PHONY: build components devhost run test lint fmt

## Build the three wasm components (the app's two and the test probe) and devhost.
build: components devhost

components:
	cargo build --target wasm32-wasip1 --release $(COMPONENTS)

devhost:
	cargo build --profile host -p devhost

## Serve the whole app on 127.0.0.1:3000 (one process, board reaches user by chaining).
run: build
ifneq ($(SPIN),)
	@echo "Running on Spin ($(SPIN))"
	$(SPIN) up $(HOST_FLAGS)
else
	@echo "Spin is not installed: running on devhost"
	$(DEVHOST) $(HOST_FLAGS)
endif

## Every test: unit tests of each crate, the world check, and the end-to-end suites.
test: build
	cargo test --profile host --workspace

## Formatting and clippy, warnings denied, on the host and on the wasm target.
lint:
	cargo fmt --all --check
	cargo clippy --profile host --workspace --all-targets -- -D warnings
	cargo clippy --target wasm32-wasip1 --release $(COMPONENTS) -- -D warnings

fmt:
	cargo fmt --all
