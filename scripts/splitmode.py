"""Split mode: each service in its own host process behind one gateway (HAProxy).

`scripts/split` starts the gateway and REPLICAS processes per service (1 by default) and keeps
them running, `scripts/swap` puts a new build of one service into service blue-green, replacing
every replica, `scripts/status` shows what serves. They share the state kept under
`<SPLIT_DIR>/.spin/split/`:

- `<component>.json`: the processes serving that service now: the gateway colour (blue or
  green), the build's manifest, and per replica its pid (which is also its process group), port
  and gateway slot (`blue1`, `blue2`, ...);
- `databases.json`: the runtime config the services run with and, with DB=libsql, each label's
  server (`scripts/databases.py`; data under `libsql/`);
- `gateway.json`, `gateway.sock` (HAProxy's runtime API) and `gateway.log`;
- `builds/`: each build put into service, copied, with a manifest that runs that copy, so a later
  `cargo build` never changes what a running or restarted process serves;
- `logs/`: each process's output.

The host is the one `hosts.py` decides (Spin when available, devhost otherwise); APP_HOST
(`spin` or `devhost`) chooses.
"""

import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import socket
import subprocess
import time
import typing
import urllib.error
import urllib.request

import databases
import hosts
# Re-exported: split, swap and status reach them through this module.
from hosts import free_port  # noqa: F401
from processes import group_alive, stop_group  # noqa: F401

ROOT = pathlib.Path(__file__).resolve().parent.parent
GATEWAY_CONFIG = ROOT / "deploy/gateway/haproxy.cfg"
DEFAULT_GATEWAY_ADDR = "127.0.0.1:3000"


class Service(typing.NamedTuple):
    backend: str
    """The gateway's backend (deploy/gateway/haproxy.cfg)."""
    crate: str
    path: str
    """Where on the gateway's address it serves."""
    health: str
    """What answers 200 once a process can serve."""


SERVICES = {
    "user-component": Service("users", "user_component", "/users", "/users/health"),
    "board-component": Service("boards", "board_component", "/boards", "/boards/health"),
    # The web page has no database to check: it can serve once it serves the page.
    "web-component": Service("web", "web_component", "/", "/"),
}
COLOURS = ("blue", "green")
# Server slots per colour in deploy/gateway/haproxy.cfg: the most replicas split mode runs.
MAX_REPLICAS = 4
# How long a new process may take to answer its health check (Spin compiles at start).
HEALTH_TIMEOUT = 60.0


class StartFailure(Exception):
    """A new process did not come up healthy; the message says why."""


def state_dir():
    return pathlib.Path(os.environ.get("SPLIT_DIR") or ROOT).resolve() / ".spin/split"


def host():
    """(name, command) of the host to run: APP_HOST, else what `hosts` decides."""
    name = os.environ.get("APP_HOST") or hosts.default_host()
    return name, hosts.command(name)


def built_wasm(component):
    return ROOT / f"target/wasm32-wasip1/release/{SERVICES[component].crate}.wasm"


def read_state(name):
    path = state_dir() / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def write_state(name, state):
    """Replaces the state in one rename, so a reader never sees half of it."""
    path = state_dir() / f"{name}.json"
    staged = path.with_suffix(".json.new")
    staged.write_text(json.dumps(state) + "\n")
    staged.rename(path)


@contextlib.contextmanager
def locked(component):
    """Held while a service's process is replaced, so the supervisor and a swap never both do."""
    with open(state_dir() / f"{component}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def keep_build(component, wasm):
    """Copies `wasm` under builds/ with a manifest that serves that copy; returns the manifest."""
    builds = state_dir() / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    stamp = f"{component}-{time.time_ns()}"
    copy = builds / f"{stamp}.wasm"
    shutil.copyfile(wasm, copy)
    manifest = (ROOT / "spin.toml").read_text()
    manifest = manifest.replace('source = "target/', f'source = "{ROOT}/target/')
    manifest = manifest.replace(f'"{built_wasm(component)}"', f'"{copy}"')
    if str(copy) not in manifest:
        raise SystemExit(f"spin.toml does not name {built_wasm(component).name} as {component}'s source")
    path = builds / f"{stamp}.spin.toml"
    path.write_text(manifest)
    return str(path)


# The problem type of a build that refuses its database's schema as too new for it (a rollback
# past a breaking migration): it will not pass its health check until a newer build migrates.
SCHEMA_TOO_NEW = "/problems/schema-too-new"


class SchemaTooNew(Exception):
    """A build whose health check says the database's schema is too new for it."""


def health(component, port):
    """(status, x-service-version) of the service's health check on `port`; raises
    `SchemaTooNew` with the service's detail when it refuses its database's schema."""
    url = f"http://127.0.0.1:{port}{SERVICES[component].health}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("x-service-version")
    except urllib.error.HTTPError as error:
        with contextlib.suppress(ValueError):
            problem = json.loads(error.read())
            if problem.get("type") == SCHEMA_TOO_NEW:
                raise SchemaTooNew(problem.get("detail")) from None
        return error.code, error.headers.get("x-service-version")


def runtime_config():
    """The runtime config split mode's services run with (`databases.json`)."""
    state = read_state("databases")
    return state["runtime_config"] if state else str(databases.FILE_CONFIG)


def start_service(component, manifest, port, gateway_addr):
    """Starts `component` from `manifest` on `port` in a process group (and session) of its own,
    and waits until its health endpoint answers 200. Returns (pid, version)."""
    name, command = host()
    logs = state_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stem = f"{component}-{port}"
    args = command + ["--from", manifest, "--runtime-config-file", runtime_config(),
                      "--listen", f"127.0.0.1:{port}", "--component-id", component]
    if name == "spin":
        args += ["--log-dir", str(logs / stem)]
    # Board reaches the user service through the gateway, so it follows every swap of it.
    env = os.environ | {"SPIN_VARIABLE_USER_SERVICE_URL": f"http://{gateway_addr}"}
    with open(logs / f"{stem}.log", "ab") as log:
        process = subprocess.Popen(args, cwd=state_dir().parent.parent, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + HEALTH_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartFailure(f"it exited at start-up ({name}):\n{tail(logs / f'{stem}.log')}")
        try:
            status, version = health(component, port)
            if status == 200:
                return process.pid, version
            last = f"health answered {status}"
        except OSError:
            pass
        except SchemaTooNew as refusal:
            stop_group(process.pid)
            raise StartFailure(f"it refuses the database's schema: {refusal}") from None
        time.sleep(0.05)
    stop_group(process.pid)
    raise StartFailure(f"it did not answer its health check within {HEALTH_TIMEOUT:.0f} s ({last})")


def tail(path, lines=15):
    text = pathlib.Path(path).read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def gateway(command):
    """Sends one command to HAProxy's runtime API and returns its answer."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(state_dir() / "gateway.sock"))
        sock.sendall(command.encode() + b"\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer.decode()


def server_stat(backend, slot):
    """The gateway's statistics row of one server slot."""
    lines = gateway("show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(",")))
        if row.get("pxname") == backend and row.get("svname") == slot:
            return row
    raise SystemExit(f"the gateway has no server {backend}/{slot}")


def connections(backend, slot):
    """What the gateway still holds on one server slot: requests in flight or queued for it, and
    connections to it, in use or idle (kept alive for reuse)."""
    row = server_stat(backend, slot)
    return sum(int(row[field] or 0) for field in ("scur", "qcur", "used_conn_cur", "srv_icur"))


def slots(colour, replicas):
    return [f"{colour}{n}" for n in range(1, replicas + 1)]


def put_in_service(backend, replicas):
    """Points each slot at its replica's port and enables it; returns once the gateway's health
    checks have found every one of them up."""
    for replica in replicas:
        gateway(f"set server {backend}/{replica['slot']} addr 127.0.0.1 port {replica['port']}")
        gateway(f"set server {backend}/{replica['slot']} state ready")
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while any(not server_stat(backend, r["slot"])["status"].startswith("UP") for r in replicas):
        if time.monotonic() > deadline:
            raise StartFailure(f"the gateway's health checks did not find {backend} up")
        time.sleep(0.05)


def replica_count():
    """REPLICAS (1 by default). A local file is not shared between processes that could run on
    different machines, so more than one replica needs DB=libsql."""
    raw = os.environ.get("REPLICAS") or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_REPLICAS:
        raise SystemExit(f"REPLICAS is {raw!r}; expected 1 to {MAX_REPLICAS}")
    replicas = int(raw)
    if replicas > 1 and databases.chosen() == "file":
        raise SystemExit("REPLICAS above 1 needs DB=libsql: replicas share their service's database, "
                         "and a local SQLite file is not shared between pods (each would write a "
                         "file of its own on its own disk). Run `make split DB=libsql REPLICAS=2`.")
    return replicas
