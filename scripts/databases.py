"""The app's databases for `make run`, split mode and the benchmark: local files (the repository's
`runtime-config.toml`), or, with DB=libsql, one libSQL server (`sqld`) per service, each with its
own data directory and port and its guard in front (`deploy/libsql-guard/haproxy.cfg`: a frozen
or dead server fails its statements within a second), and a runtime config that points each
label at its server's guard.

DB=file|libsql chooses (`file` by default); `hosts.py` says whether sqld is available.
"""

import contextlib
import os
import pathlib
import subprocess
import time
import urllib.request

import hosts
import processes

ROOT = hosts.ROOT
FILE_CONFIG = ROOT / "runtime-config.toml"
GUARD_CONFIG = ROOT / "deploy/libsql-guard/haproxy.cfg"
LABELS = ("users", "boards")
# How long a server may take to answer its health check.
START_TIMEOUT = 30.0


class StartFailure(Exception):
    """A server did not come up; the message says why."""


def chosen():
    """`file` or `libsql`, from DB."""
    backend = os.environ.get("DB") or "file"
    if backend not in ("file", "libsql"):
        raise SystemExit(f"DB is {backend!r}; expected file or libsql")
    if backend == "libsql" and not hosts.sqld_binary():
        raise SystemExit("DB=libsql needs the libSQL server sqld: set SQLD_BIN or put sqld on PATH "
                         "(no registry ships it; docs/testing.md says how to build it)")
    return backend


def start_server(data_dir):
    """Starts one sqld keeping its data in `data_dir`, in a process group of its own, and its
    guard in the same group (they stop together), and waits until the server is healthy
    through the guard. Returns (the group, the guard's port: where the app connects, the
    server's own port)."""
    data_dir = pathlib.Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port, guard_port = hosts.free_port(), hosts.free_port()
    log = open(data_dir / "sqld.log", "ab")
    process = subprocess.Popen(
        [hosts.sqld_binary(), "--db-path", str(data_dir / "data"),
         "--http-listen-addr", f"127.0.0.1:{port}", "--no-welcome"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, process_group=0)
    # A process joins only a group of its own session: hence process_group, not a new session.
    guard = subprocess.Popen(
        ["haproxy", "-db", "-f", str(GUARD_CONFIG)],
        env=os.environ | {"GUARD_ADDR": f"127.0.0.1:{guard_port}", "SQLD_ADDR": f"127.0.0.1:{port}"},
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, process_group=process.pid)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None or guard.poll() is not None:
            processes.stop_group(process.pid)
            raise StartFailure(f"sqld or its guard exited at start-up; see {data_dir / 'sqld.log'}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{guard_port}/health", timeout=2) as response:
                if response.status == 200:
                    return process.pid, guard_port, port
        time.sleep(0.05)
    processes.stop_group(process.pid)
    raise StartFailure(f"sqld did not answer through its guard on port {guard_port} "
                       f"within {START_TIMEOUT:.0f} s")


def read_model_stores():
    """The key-value stores of the repository's runtime config (the services' read models),
    which every runtime config of the app defines as they are there."""
    text = FILE_CONFIG.read_text()
    return text[text.index("[key_value_store."):]


def runtime_config_text(ports):
    """A runtime config naming each label's server (its guard's port), and the read models'
    stores. sqld runs here without auth; Spin still requires a token, any string."""
    return "".join(f'[sqlite_database.{label}]\ntype = "libsql"\nurl = "http://127.0.0.1:{port}"\n'
                   f'token = "local"\n\n' for label, port in ports.items()) + read_model_stores()


def start_servers(state_dir):
    """One server per label under `state_dir/<label>/`; writes `state_dir/runtime-config.toml`.
    Returns ({label: pid}, the runtime config's path). A label's data stays for the next run."""
    state_dir = pathlib.Path(state_dir)
    pids, ports = {}, {}
    try:
        for label in LABELS:
            pids[label], ports[label], _ = start_server(state_dir / label)
    except StartFailure:
        stop_servers(pids)
        raise
    config = state_dir / "runtime-config.toml"
    config.write_text(runtime_config_text(ports))
    return pids, config


def stop_servers(pids):
    for pid in pids.values():
        processes.stop_group(pid)
