#!/usr/bin/env python3
"""Which hosts and databases this machine can run the app on, decided here and nowhere else.
Hosts: Spin when it is available (SPIN_BIN, or `spin` on PATH), devhost always (once built).
Databases: local files always, libSQL servers when `sqld` is available (SQLD_BIN, or `sqld` on
PATH). The Makefile, the scripts, the benchmark and the test harness all ask this module.

As a command:  hosts.py spin     prints Spin's path, or nothing
               hosts.py sqld     prints sqld's path, or nothing
               hosts.py default  prints the host `make run` uses: `spin` or `devhost`
"""

import os
import pathlib
import shutil
import socket
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEVHOST = ROOT / "target/host/devhost"


def spin_binary():
    """Spin's path, or None."""
    return os.environ.get("SPIN_BIN") or shutil.which("spin")


def spin3_binary():
    """A Spin 3.6 binary (SPIN3_BIN), or None: the Spin SpinKube's containerd-shim-spin embeds
    (3.6.3), for a run of the end-to-end suites on it. No registry ships it either."""
    return os.environ.get("SPIN3_BIN")


def sqld_binary():
    """The libSQL server's path, or None. No registry ships it: see docs/testing.md."""
    return os.environ.get("SQLD_BIN") or shutil.which("sqld")


def databases():
    """Every database backend this machine can run, local files first."""
    return ["file"] + (["libsql"] if sqld_binary() else [])


def default_host():
    return "spin" if spin_binary() else "devhost"


def command(name):
    """The command line that starts host `name` (`spin up` serves through a child process)."""
    if name == "spin":
        spin = spin_binary()
        if not spin:
            raise SystemExit("Spin is neither SPIN_BIN nor on PATH")
        return [spin, "up"]
    if name != "devhost":
        raise SystemExit(f"no host {name!r}; expected spin or devhost")
    if not DEVHOST.exists():
        raise SystemExit(f"{DEVHOST} is missing: run `make build`")
    return [str(DEVHOST)]


def free_port():
    """A loopback port nobody listens on now, for a host to serve on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def available():
    """Every host this machine can run, devhost first."""
    return ["devhost"] + (["spin"] if spin_binary() else [])


if __name__ == "__main__":
    question = sys.argv[1] if len(sys.argv) > 1 else "default"
    if question == "spin":
        print(spin_binary() or "")
    elif question == "sqld":
        print(sqld_binary() or "")
    elif question == "default":
        print(default_host())
    else:
        sys.exit(__doc__)
