"""Split mode: each service in its own host process behind one gateway (HAProxy).

`scripts/split` starts the gateway and one process per service and keeps them running,
`scripts/swap` puts a new build of one service into service blue-green, `scripts/status` shows
what serves. They share the state kept under `<SPLIT_DIR>/.spin/split/`:

- `<component>.json`: the process serving that service now (pid, which is also its process
  group, port, gateway slot, the build's `.wasm`);
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
import urllib.error
import urllib.request

import hosts
# Re-exported: split, swap and status reach them through this module.
from hosts import free_port  # noqa: F401
from processes import group_alive, stop_group  # noqa: F401

ROOT = pathlib.Path(__file__).resolve().parent.parent
GATEWAY_CONFIG = ROOT / "deploy/gateway/haproxy.cfg"
DEFAULT_GATEWAY_ADDR = "127.0.0.1:3000"
# component id -> (gateway backend and first path segment, crate name)
SERVICES = {
    "user-component": ("users", "user_component"),
    "board-component": ("boards", "board_component"),
}
SLOTS = ("blue", "green")
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
    return ROOT / f"target/wasm32-wasip1/release/{SERVICES[component][1]}.wasm"


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


def health(component, port):
    """(status, x-service-version) of the service's health endpoint on `port`."""
    url = f"http://127.0.0.1:{port}/{SERVICES[component][0]}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("x-service-version")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("x-service-version")


def start_service(component, manifest, port, gateway_addr):
    """Starts `component` from `manifest` on `port` in a process group (and session) of its own,
    and waits until its health endpoint answers 200. Returns (pid, version)."""
    name, command = host()
    logs = state_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stem = f"{component}-{port}"
    args = command + ["--from", manifest, "--runtime-config-file", str(ROOT / "runtime-config.toml"),
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
        with contextlib.suppress(OSError):
            status, version = health(component, port)
            if status == 200:
                return process.pid, version
            last = f"health answered {status}"
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


def sessions(backend, slot):
    """Requests the gateway has in flight on one server slot (its `scur`)."""
    lines = gateway("show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(",")))
        if row.get("pxname") == backend and row.get("svname") == slot:
            return int(row["scur"] or 0) + int(row["qcur"] or 0)
    raise SystemExit(f"the gateway has no server {backend}/{slot}")
