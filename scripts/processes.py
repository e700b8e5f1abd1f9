"""Processes as /proc shows them, for the scripts and the benchmark. Every host runs in a
process group of its own, because `spin up` serves through a child process (`spin trigger
http`): hosts are stopped as groups, and a zombie, which holds no port or file, does not count.
"""

import contextlib
import os
import pathlib
import signal
import time


def live():
    """(pid, process group) of every live process."""
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields start after the last ')'.
        state, _parent, group = stat[stat.rfind(")") + 2:].split()[:3]
        if state not in ("Z", "X"):
            yield int(proc.name), int(group)


def group_members(group):
    return [pid for pid, of in live() if of == group]


def group_alive(group):
    return bool(group_members(group))


def stop_group(group, timeout=10.0, first=signal.SIGTERM):
    """`first` (SIGTERM) to the group, then waits until none of it is left (SIGKILL after
    `timeout`)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, first)
    deadline = time.monotonic() + timeout
    while group_alive(group):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        time.sleep(0.02)


# Each ends a run as Ctrl-C does: SIGHUP is a closed terminal.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def ignore_stop_signals():
    """From the first stop signal on, a further one (make passes a group's SIGTERM on to its
    child once more) must not cut the cleanup short."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def raise_on_stop_signal(exception):
    """Makes the first stop signal raise `exception` (so the cleanup runs on the way out) and
    the ones after it ignored. SIGINT is set too: a shell that starts a script in the background
    leaves it ignored."""
    def stopped(*_):
        ignore_stop_signals()
        raise exception
    for signum in STOP_SIGNALS:
        signal.signal(signum, stopped)
