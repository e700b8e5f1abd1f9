#!/usr/bin/env python3
"""The benchmark: throughput, latency, start-up and footprint, measured the same way every time.

Measures each host in one run: devhost, and Spin when it is available (SPIN_BIN, or `spin` on
PATH), so their figures compare like with like; and on each host every database backend this
machine has: local files, and a libSQL server (sqld) per service when sqld is available
(SQLD_BIN, or on PATH). On each it loads every endpoint with wrk at several concurrencies after
a warm-up, counts the CPU time the host and each sqld spent per request, and measures the host's
own ceiling with a do-nothing spin-sdk 5.2 component (the probe's `/noop`). Each host and server
runs in a process group of its own (`spin up` serves through a child process): RSS is the
group's, and stopping signals the group. Writes bench/results/<date>.json and .md. Needs
`make build` and wrk (Debian package `wrk`).
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import databases  # noqa: E402  (the scripts' helpers, found through the line above)
import hosts  # noqa: E402
import processes  # noqa: E402
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"

# name, path, wrk script (None for a plain GET), status every answer must have
ENDPOINTS = [
    ("GET /users/{id}", "/users/1", None),
    ("POST /users", "/users", "post_users.lua"),
    ("POST /boards", "/boards", "post_boards.lua"),
    ("GET /boards/{id}", "/boards/1", None),
    ("GET /boards?limit=20", "/boards?limit=20", None),
    # The page's biggest file, from the web component's memory: no database at all.
    ("GET /style.css", "/style.css", None),
]
# The endpoints whose cost the ceiling comparison targets (reads: 0.75 of the ceiling or more).
READS = {"GET /users/{id}", "GET /boards/{id}", "GET /boards?limit=20", "GET /style.css"}
# Board's point read before and after every write of the run, at this concurrency: a burst of
# writes must leave reads at this share of their rate before, or better, with no error.
BURST_READ = "/boards/1"
BURST_CONCURRENCY = 16
BURST_SHARE = 0.8
# The statements behind `GET /boards/{id}` and `POST /boards`, as board-component/src/store/posts.rs
# sends them (find, insert), for the server's own figure; `args` in Hrana's form.
SQLD_STATEMENTS = {
    "GET /boards/{id}": (
        "SELECT p.id, p.user_id, p.title, p.content, p.created_at, a.name AS author_name, "
        "(SELECT next_pull_at <= unixepoch('subsec') FROM author_feed) AS feed_due "
        "FROM posts p LEFT JOIN authors a ON a.id = p.user_id WHERE p.id = ?",
        [{"type": "integer", "value": "1"}]),
    "POST /boards": (
        "INSERT INTO posts (user_id, title, content) VALUES (?, ?, ?) "
        "RETURNING id, user_id, title, content, created_at, NULL AS author_name",
        [{"type": "integer", "value": "1"}, {"type": "text", "value": "Bench"},
         {"type": "text", "value": "A post written under load."}]),
}
# The app's share of those figures on libSQL, at BURST_CONCURRENCY, that devhost aims for.
SQLD_SHARE_TARGETS = {"GET /boards/{id}": 0.6, "POST /boards": 0.7}
# Targets of the libSQL path on devhost: each read at this share of the same read on files or
# more, and POST /boards' p99 at 16 connections at most this many ms.
LIBSQL_READ_SHARE = 0.5
LIBSQL_POST_P99_MS = 100
# The read model's targets (docs/read-model.md), each host against its own ceiling and server:
# its reads at BURST_CONCURRENCY at this share of the do-nothing component on files, and of
# sqld's own point read on libSQL; their p50 at one kept-alive connection, directly and through
# split mode's gateway (files), at most P50_GROWTH times the figure before the model;
# POST /boards' p99 at BURST_CONCURRENCY on files; devhost's req/s over Spin's on each endpoint.
MODEL_READS = {"GET /users/{id}": "/users/1", "GET /boards/{id}": "/boards/1"}
MODEL_CEILING_SHARE = 0.55
MODEL_SQLD_SHARE = 0.6
P50_GROWTH = 1.2
# Before the model: directly, bench/results/2026-12-02T151411Z; through the gateway, measured
# with this function at c42c34a (2026-12-03).
P50_BEFORE_MS = {
    ("devhost", "directly"): {"GET /users/{id}": 0.315, "GET /boards/{id}": 0.378},
    ("spin", "directly"): {"GET /users/{id}": 0.76, "GET /boards/{id}": 0.87},
    ("devhost", "through the gateway"): {"GET /users/{id}": 0.463, "GET /boards/{id}": 0.473},
    ("spin", "through the gateway"): {"GET /users/{id}": 1.16, "GET /boards/{id}": 1.15},
}
POST_P99_MS = 15
DEVHOST_OVER_SPIN = 1.5
# Sign-up's cost is its Argon2id hash, by design: the same wasm, compiled by the same wasmtime, on
# the same cores, so no host can be 1.5 times faster at it. Its ratio is shown, not judged.
HASH_BOUND = {"POST /users"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ms(groups):
    """CPU time (user and system) spent so far by every live process of `groups`, in ms."""
    ticks = 0
    for pid, group in processes.live():
        if group in groups:
            try:
                stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks * 1000 / CLOCK_TICKS


def available_hosts():
    """Every host this machine can run (`scripts/hosts.py` decides): name -> command."""
    return {name: hosts.command(name) for name in hosts.available()}


def request(url, method="GET", body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Host:
    """One host serving a manifest, in its own working directory and its own process group."""

    def __init__(self, name, command, manifest, runtime_config, workdir, extra_args=(), ready_path="/"):
        self.port = hosts.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        if name == "spin":
            # Component output goes to files; keep them with this run, not beside spin.toml.
            extra_args = ["--log-dir", str(workdir / "logs"), *extra_args]
        args = command + ["--from", str(manifest), "--runtime-config-file", str(runtime_config),
                          "--listen", f"127.0.0.1:{self.port}", *extra_args]
        self.log = open(workdir / f"host-{self.port}.log", "w")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(args, cwd=workdir, stdout=self.log, stderr=self.log,
                                        env={**os.environ, "RUST_LOG": "warn"}, process_group=0)
        self.first_ok = self._wait_for_200(ready_path)

    def _wait_for_200(self, path):
        deadline = time.perf_counter() + 120
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"the host exited at start-up; see {self.log.name}")
            try:
                status, _ = request(self.base + path)
                if status == 200:
                    return time.perf_counter() - self.started
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.002)
        sys.exit("the host did not answer 200 within 120 s")

    def peak_rss_mb(self):
        """Each process's peak RSS (VmHWM), summed over the host's group."""
        kib = 0
        for pid in processes.group_members(self.process.pid):
            status = pathlib.Path(f"/proc/{pid}/status").read_text()
            kib += int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
        return round(kib / 1024, 1)

    def stop(self):
        """Stops the host's whole group and waits until none of it is left."""
        processes.stop_group(self.process.pid)
        self.process.wait()
        self.log.close()


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def to_ms(text):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return round(float(number) * UNITS[unit], 3)


def wrk(url, concurrency, seconds, script=None, token=""):
    """Runs wrk and returns requests/s, latency percentiles and error counts. A script gets a
    run id and `token` (a sign-in token, for the posts; the request body, for sqld alone)."""
    # A generous timeout: sign-up at 64 connections queues for seconds, which is a figure to
    # report, not a failure. Any status other than the expected 2xx still counts as an error.
    args = ["wrk", f"-t{min(concurrency, 2)}", f"-c{concurrency}", f"-d{seconds}s", "--latency", "--timeout", "30s"]
    if script:
        args += ["-s", str(BENCH / script)]
    # Each run gets its own id, so the sign-up script never repeats an email across runs.
    output = subprocess.run(args + [url, "--", uuid.uuid4().hex, token], capture_output=True, text=True,
                            check=True).stdout
    latency = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", output)
    percentile = {p: to_ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M)}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "rps": round(float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)), 1),
        "p50_ms": percentile.get("50"),
        "p99_ms": percentile.get("99"),
        "max_ms": to_ms(latency.group(3)) if latency else None,
        "errors": (int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(int(n) for n in socket_errors.groups()) if socket_errors else 0),
    }


def probe_manifest(directory):
    wasm = ROOT / "target/wasm32-wasip1/release/probe_component.wasm"
    manifest = directory / "spin.toml"
    manifest.write_text(f'''spin_manifest_version = 2
[application]
name = "ceiling"
[[trigger.http]]
route = "/noop"
component = "noop"
[[trigger.http]]
route = "/argon2"
component = "noop"
[component.noop]
source = "{wasm}"
''')
    runtime_config = directory / "runtime-config.toml"
    runtime_config.write_text("")
    return manifest, runtime_config


def startup(name, command, runs):
    """Process start to first 200, without and with the compilation cache."""
    figures = {"cold_ms": [], "warm_ms": []}
    with tempfile.TemporaryDirectory() as cache:
        for kind in ("cold_ms", "warm_ms"):
            # The warm runs share a cache that one unmeasured start fills first.
            for run in range(runs + (1 if kind == "warm_ms" else 0)):
                with tempfile.TemporaryDirectory() as workdir:
                    extra = []
                    if name == "devhost":
                        # Cold: a fresh cache each time. Warm: the cache the cold runs filled.
                        extra = ["--cache-dir", cache if kind == "warm_ms" else tempfile.mkdtemp(dir=workdir)]
                    host = Host(name, command, ROOT / "spin.toml", ROOT / "runtime-config.toml",
                                pathlib.Path(workdir), extra, ready_path="/users/health")
                    if kind == "cold_ms" or run > 0:
                        figures[kind].append(round(host.first_ok * 1000, 1))
                    host.stop()
    return {kind: statistics.median(values) for kind, values in figures.items()} | {"runs": runs}


def seed(base):
    """One user and 50 posts by it; returns its sign-in token, which the posts under load use."""
    account = {"email": "seed@example.org", "password": "correct horse"}
    status, _ = request(base + "/users", "POST", account | {"name": "Seed"})
    assert status == 201, status
    status, body = request(base + "/users/tokens", "POST", account)
    assert status == 201, status
    token = json.loads(body)["accessToken"]
    for i in range(50):
        status, _ = request(base + "/boards", "POST", {"userId": 1, "title": f"seed {i}", "content": "seed"}, token)
        assert status == 201, status
    return token


def argon2_params(workdir):
    """The Argon2 parameters in the seeded user's stored hash (`m=…,t=…,p=…`): what sign-up
    really uses, so the Argon2 figure follows the user service's code, not a copy of it."""
    with sqlite3.connect(workdir / ".spin/users.db") as db:
        (phc,) = db.execute("SELECT password_hash FROM users WHERE id = 1").fetchone()
    return phc.split("$")[3]


def serve_endpoints(name, command, database, concurrencies, warmup, seconds):
    """Every endpoint on one database backend, on a fresh app. Returns (rows, peak RSS, the
    Argon2 parameters when the users database is a file, board's point read before and after
    the writes, and on libSQL what board's statements cost its server alone)."""
    with tempfile.TemporaryDirectory() as app_dir:
        app_dir = pathlib.Path(app_dir)
        servers, alone, app = {}, None, None
        runtime_config = ROOT / "runtime-config.toml"
        if database == "libsql":
            servers, runtime_config = databases.start_servers(app_dir / "libsql")
        try:
            app = Host(name, command, ROOT / "spin.toml", runtime_config, app_dir, ready_path="/users/health")
            token = seed(app.base)
            params = argon2_params(app_dir) if database == "file" else None
            before = wrk(app.base + BURST_READ, BURST_CONCURRENCY, seconds)
            endpoints = []
            for endpoint, path, script in ENDPOINTS:
                print(f"{name}, {database}: {endpoint}...", flush=True)
                runs = load(app, path, script, concurrencies, warmup, seconds, servers.values(), token)
                endpoints.append({"name": endpoint, "runs": runs})
            after = wrk(app.base + BURST_READ, BURST_CONCURRENCY, seconds)
            burst = {"path": BURST_READ, "concurrency": BURST_CONCURRENCY, "before": before, "after": after,
                     "share": round(after["rps"] / before["rps"], 3) if before["rps"] else 0.0}
            peak_rss = app.peak_rss_mb()
            app.stop()
            if database == "libsql":
                # On a server started afresh over board's data: sqld 0.24.33 can be left with
                # its writes hung by the load before (docs/libsql.md, "sqld's write stall").
                databases.stop_servers(servers)
                print(f"{name}, {database}: board's statements on sqld alone...", flush=True)
                servers = {}
                servers["boards"], _, port = databases.start_server(app_dir / "libsql" / "boards")
                alone = sqld_alone(port, seconds)
        finally:
            # A run that fails half-way must not leave its host serving.
            if app is not None and app.process.poll() is None:
                app.stop()
            databases.stop_servers(servers)
    return endpoints, peak_rss, params, burst, alone


def sqld_alone(port, seconds):
    """Board's point read and its insert, each sent straight to board's server as one
    `/v2/pipeline` request (the statement, then close) by wrk at `BURST_CONCURRENCY`: the
    server's own figure, on the same data, that the app's libSQL rows are read against."""
    url = f"http://127.0.0.1:{port}/v2/pipeline"
    figures = {}
    for name, (sql, args) in SQLD_STATEMENTS.items():
        pipeline = {"requests": [{"type": "execute", "stmt": {"sql": sql, "args": args}}, {"type": "close"}]}
        # sqld answers 200 to a statement it refuses, with the error inside: ask once first.
        status, answer = request(url, "POST", pipeline)
        outcome = json.loads(answer)["results"][0] if status == 200 else {"type": status}
        if outcome["type"] != "ok":
            sys.exit(f"sqld refuses board's statement {name!r}: {outcome}")
        figures[name] = wrk(url, BURST_CONCURRENCY, seconds, "sqld_pipeline.lua", json.dumps(pipeline))
    return figures


def through_gateway(name, seconds):
    """The read model's reads at one kept-alive connection through split mode's gateway
    (`scripts/split` on this host, files, one replica per service), as `make split` serves."""
    with tempfile.TemporaryDirectory() as split_dir:
        base_port = hosts.free_port()
        env = os.environ | {"APP_HOST": name, "SPLIT_DIR": split_dir, "DB": "file", "REPLICAS": "1",
                            "GATEWAY_ADDR": f"127.0.0.1:{base_port}"}
        log = open(pathlib.Path(split_dir) / "split.log", "w")
        process = subprocess.Popen([str(ROOT / "scripts/split")], env=env, stdout=log, stderr=log,
                                   stdin=subprocess.DEVNULL, process_group=0)
        try:
            base = f"http://127.0.0.1:{base_port}"
            deadline = time.monotonic() + 120
            while not all(ok(base + path) for path in ("/users/health", "/boards/health")):
                if process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"split mode did not come up; see {log.name}")
                time.sleep(0.1)
            seed(base)
            return {endpoint: wrk(base + path, 1, seconds) for endpoint, path in MODEL_READS.items()}
        finally:
            processes.stop_group(process.pid)
            process.wait()
            log.close()


def ok(url):
    """Whether `url` answers 200 now."""
    try:
        return request(url)[0] == 200
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def load(host, path, script, concurrencies, warmup, seconds, servers=(), token=""):
    """wrk at each concurrency; with the CPU ms per request of the host and of its servers."""
    rows = []
    for concurrency in concurrencies:
        wrk(host.base + path, concurrency, warmup, script, token)
        before = (cpu_ms({host.process.pid}), cpu_ms(set(servers)))
        row = {"concurrency": concurrency, **wrk(host.base + path, concurrency, seconds, script, token)}
        after = (cpu_ms({host.process.pid}), cpu_ms(set(servers)))
        requests = max(row["requests"], 1)
        row["host_cpu_ms"] = round((after[0] - before[0]) / requests, 3)
        row["sqld_cpu_ms"] = round((after[1] - before[1]) / requests, 3)
        rows.append(row)
    return rows


def signup_memory(name, command, concurrencies, seconds):
    """Peak RSS of a fresh host's group while sign-ups run at each concurrency: what a burst of
    sign-ups costs in memory (each Argon2id hash holds its `m` in the instance's memory), and
    the MB per further concurrent sign-up that deploy limits are sized from."""
    peaks = {}
    for concurrency in concurrencies:
        with tempfile.TemporaryDirectory() as workdir:
            host = Host(name, command, ROOT / "spin.toml", ROOT / "runtime-config.toml",
                        pathlib.Path(workdir), ready_path="/users/health")
            idle = host.peak_rss_mb()
            wrk(host.base + "/users", concurrency, seconds, "post_users.lua")
            peaks[concurrency] = {"idle_mb": idle, "peak_mb": host.peak_rss_mb()}
            host.stop()
    # The steepest rise over the lowest concurrency: a pod must survive the worst of them.
    low = min(peaks)
    slopes = [(peaks[c]["peak_mb"] - peaks[low]["peak_mb"]) / (c - low) for c in peaks if c > low]
    return {"by_concurrency": peaks, "mb_per_concurrent_sign_up": round(max(slopes), 2) if slopes else None}


def machine():
    model = "unknown"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"cpus": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "load_generator": "wrk, same machine"}


def markdown(run):
    settings = run["settings"]
    lines = [f"# Benchmark, {run['date']}", "",
             f"Machine: {run['machine']['cpus']} cores, {run['machine']['cpu']}; wrk on the same machine; "
             f"{settings['seconds']} s per run after {settings['warmup']} s warm-up. Hosts measured one after "
             "the other in this run, each against its own ceiling.", ""]
    for result in run["hosts"]:
        lines += host_markdown(result)
    lines += hosts_markdown(run["hosts"])
    return "\n".join(lines)


def run_at(result, database, endpoint, concurrency):
    """One endpoint's row at one concurrency on one database, or None."""
    for measured in result["by_database"]:
        if measured["database"] == database:
            for measured_endpoint in measured["endpoints"]:
                if measured_endpoint["name"] == endpoint:
                    return next((r for r in measured_endpoint["runs"] if r["concurrency"] == concurrency), None)
    return None


def verdict(met):
    return "met" if met else "MISSED"


def model_markdown(result):
    """The read model's targets on one host."""
    lines = ["### Read model targets", "", "| target | figure | verdict |", "|---|---|---|"]
    alone = next((m["sqld_alone"] for m in result["by_database"] if m["database"] == "libsql"), None)
    for endpoint in MODEL_READS:
        row = run_at(result, "file", endpoint, BURST_CONCURRENCY)
        if row:
            lines.append(f"| {endpoint}, files, {BURST_CONCURRENCY} connections: ≥ {MODEL_CEILING_SHARE} of the "
                         f"ceiling | {row['of_ceiling']:.2f} | {verdict(row['of_ceiling'] >= MODEL_CEILING_SHARE)} |")
        row = run_at(result, "libsql", endpoint, BURST_CONCURRENCY)
        if row and alone:
            server = alone["GET /boards/{id}"]["rps"]
            share = row["rps"] / server if server else 0.0
            lines.append(f"| {endpoint}, libSQL, {BURST_CONCURRENCY} connections: ≥ {MODEL_SQLD_SHARE} of sqld's own "
                         f"point read ({server} req/s) | {share:.2f} | {verdict(share >= MODEL_SQLD_SHARE)} |")
    for way in ("directly", "through the gateway"):
        for endpoint in MODEL_READS:
            row = (run_at(result, "file", endpoint, 1) if way == "directly"
                   else result["gateway_c1"].get(endpoint))
            before = P50_BEFORE_MS[(result["host"], way)][endpoint]
            if not row:
                continue
            lines.append(f"| {endpoint}, files, one connection, {way}: p50 ≤ {P50_GROWTH} × {before} ms | "
                         f"{row['p50_ms']} ms | {verdict(row['p50_ms'] <= P50_GROWTH * before)} |")
    row = run_at(result, "file", "POST /boards", BURST_CONCURRENCY)
    if row:
        lines.append(f"| POST /boards, files, {BURST_CONCURRENCY} connections: p99 ≤ {POST_P99_MS} ms | "
                     f"{row['p99_ms']} ms | {verdict(row['p99_ms'] <= POST_P99_MS)} |")
    return lines + [""]


def hosts_markdown(results):
    """devhost's req/s over Spin's, endpoint by endpoint, on files."""
    by_name = {result["host"]: result for result in results}
    if not {"devhost", "spin"} <= by_name.keys():
        return []
    lines = [f"## devhost / Spin, files, {BURST_CONCURRENCY} connections", "",
             "| endpoint | devhost req/s | Spin req/s | devhost / Spin | target |", "|---|---:|---:|---:|---|"]
    for endpoint, _, _ in ENDPOINTS:
        devhost = run_at(by_name["devhost"], "file", endpoint, BURST_CONCURRENCY)
        spin = run_at(by_name["spin"], "file", endpoint, BURST_CONCURRENCY)
        if devhost and spin and spin["rps"]:
            ratio = devhost["rps"] / spin["rps"]
            target = ("Argon2id-bound on both" if endpoint in HASH_BOUND
                      else f"≥ {DEVHOST_OVER_SPIN}: {verdict(ratio >= DEVHOST_OVER_SPIN)}")
            lines.append(f"| {endpoint} | {devhost['rps']} | {spin['rps']} | {ratio:.2f} | {target} |")
    return lines + [""]


def host_markdown(result):
    lines = [f"## {result['host']}", ""]
    for measured in result["by_database"]:
        lines += [f"### {measured['database']}", "",
                  "| endpoint | concurrency | req/s | p50 ms | p99 ms | max ms | errors | of ceiling "
                  "| host CPU ms/req | sqld CPU ms/req |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in result["ceiling"]:
            lines.append(f"| ceiling: do-nothing component | {row['concurrency']} | {row['rps']} | {row['p50_ms']} | "
                         f"{row['p99_ms']} | {row['max_ms']} | {row['errors']} | 1.00 | | |")
        for endpoint in measured["endpoints"]:
            for row in endpoint["runs"]:
                lines.append(f"| {endpoint['name']} | {row['concurrency']} | {row['rps']} | {row['p50_ms']} | "
                             f"{row['p99_ms']} | {row['max_ms']} | {row['errors']} | {row['of_ceiling']:.2f} "
                             f"| {row['host_cpu_ms']} | {row['sqld_cpu_ms']} |")
        burst = measured["after_writes"]
        verdict = "met" if burst["share"] >= BURST_SHARE and not burst["after"]["errors"] else "MISSED"
        lines += ["", f"After every write above, `GET {burst['path']}` at {burst['concurrency']} connections: "
                  f"{burst['after']['rps']} req/s ({burst['after']['errors']} errors), {burst['share']:.2f} of "
                  f"{burst['before']['rps']} before them (target ≥ {BURST_SHARE}, no error: {verdict}).", ""]
    lines += libsql_markdown(result)
    lines += [""] + model_markdown(result)
    startup_figures, footprint, argon2 = result["startup"], result["footprint"], result["argon2"]
    memory = result["signup_memory"]
    peaks = ", ".join(f"{c}: {m['peak_mb']} MB" for c, m in memory["by_concurrency"].items())
    lines += ["",
              f"Start-up to first 200 (median of {startup_figures['runs']}): cold {startup_figures['cold_ms']} ms, "
              f"warm {startup_figures['warm_ms']} ms.",
              f"Peak RSS of the host's process group under the load above (files): {footprint['peak_rss_mb']} MB "
              f"(ceiling host: {footprint['ceiling_peak_rss_mb']} MB).",
              f"Sign-ups alone on a fresh host, peak RSS by concurrency: {peaks} "
              f"(idle {next(iter(memory['by_concurrency'].values()))['idle_mb']} MB): "
              f"{memory['mb_per_concurrent_sign_up']} MB per further concurrent sign-up.",
              "Component sizes: " + ", ".join(f"{k} {v} KB" for k, v in footprint["wasm_kb"].items()) + ".",
              f"Argon2id ({argon2['params']}, read from a stored sign-up hash) inside a component: "
              f"{argon2['hashes_per_second_c1']} hashes/s at concurrency 1, {argon2['hashes_per_second_c2']} at 2.",
              ""]
    return lines


def libsql_markdown(result):
    """libSQL against files, endpoint by endpoint, each against its target."""
    measured = {m["database"]: {e["name"]: e["runs"] for e in m["endpoints"]} for m in result["by_database"]}
    if "libsql" not in measured or "file" not in measured:
        return []
    lines = ["### libSQL / files", "",
             "| endpoint | concurrency | files req/s | libSQL req/s | libSQL / files | target |",
             "|---|---:|---:|---:|---:|---|"]
    for name, file_runs in measured["file"].items():
        for file_run, libsql_run in zip(file_runs, measured["libsql"][name]):
            share = libsql_run["rps"] / file_run["rps"] if file_run["rps"] else 0.0
            target = ""
            if name in READS:
                target = f"≥ {LIBSQL_READ_SHARE}: {'met' if share >= LIBSQL_READ_SHARE else 'MISSED'}"
            elif name == "POST /boards" and file_run["concurrency"] == 16:
                p99 = libsql_run["p99_ms"]
                target = (f"p99 {p99} ms (files {file_run['p99_ms']}) ≤ {LIBSQL_POST_P99_MS}: "
                          f"{'met' if p99 <= LIBSQL_POST_P99_MS else 'MISSED'}")
            lines.append(f"| {name} | {file_run['concurrency']} | {file_run['rps']} | {libsql_run['rps']} "
                         f"| {share:.2f} | {target} |")
    alone = next(m["sqld_alone"] for m in result["by_database"] if m["database"] == "libsql")
    lines += ["", f"### libSQL / sqld alone (one `/v2/pipeline` request per statement, {BURST_CONCURRENCY} "
              "connections)", "",
              "| endpoint | sqld alone req/s | the app on libSQL req/s | share | devhost's target |",
              "|---|---:|---:|---:|---|"]
    for name, figure in alone.items():
        app_rps = next((r["rps"] for r in measured["libsql"][name] if r["concurrency"] == BURST_CONCURRENCY),
                       None)
        if app_rps is None:
            continue
        share = app_rps / figure["rps"] if figure["rps"] else 0.0
        target = SQLD_SHARE_TARGETS[name]
        lines.append(f"| {name} | {figure['rps']} | {app_rps} | {share:.2f} | ≥ {target}: "
                     f"{'met' if share >= target else 'MISSED'} |")
    return lines


def measure(name, command, args, backends, concurrencies, warmup, seconds):
    """Every figure for one host; the endpoints on each database backend."""
    print(f"host: {name}; start-up...", flush=True)
    startup_figures = startup(name, command, args.startup_runs)

    by_database = []
    for database in ["file", *[b for b in backends if b != "file"]]:
        endpoints, rss, found, burst, alone = serve_endpoints(name, command, database, concurrencies,
                                                              warmup, seconds)
        if database == "file":
            peak_rss, params = rss, found
        if database in backends:
            by_database.append({"database": database, "endpoints": endpoints, "peak_rss_mb": rss,
                                "after_writes": burst, "sqld_alone": alone})

    print(f"{name}: sign-up memory...", flush=True)
    memory = signup_memory(name, command, concurrencies, seconds)

    with tempfile.TemporaryDirectory() as ceiling_dir:
        ceiling_dir = pathlib.Path(ceiling_dir)
        manifest, runtime_config = probe_manifest(ceiling_dir)
        ceiling_host = Host(name, command, manifest, runtime_config, ceiling_dir, ready_path="/noop")
        print(f"{name}: ceiling...", flush=True)
        ceiling = load(ceiling_host, "/noop", None, concurrencies, warmup, seconds)
        argon2_url = f"{ceiling_host.base}/argon2?params={params}"
        status, body = request(argon2_url)
        if status != 200 or json.loads(body)["result"] != "ok":
            sys.exit(f"the probe cannot hash with {params}: {body!r}")
        argon2 = {"params": params} | {
            f"hashes_per_second_c{c}": wrk(argon2_url, c, seconds)["rps"] for c in (1, 2)}
        ceiling_rss = ceiling_host.peak_rss_mb()
        ceiling_host.stop()

    print(f"{name}: through split mode's gateway...", flush=True)
    gateway = through_gateway(name, seconds)

    for measured in by_database:
        for endpoint in measured["endpoints"]:
            for run, top in zip(endpoint["runs"], ceiling):
                run["of_ceiling"] = round(run["rps"] / top["rps"], 3) if top["rps"] else 0.0
    wasm = {path.stem: round(path.stat().st_size / 1000, 1)
            for path in sorted((ROOT / "target/wasm32-wasip1/release").glob("*_component.wasm"))
            if path.stem != "probe_component"}
    return {
        "host": name, "startup": startup_figures,
        "footprint": {"peak_rss_mb": peak_rss, "ceiling_peak_rss_mb": ceiling_rss, "wasm_kb": wasm},
        "argon2": argon2, "signup_memory": memory, "ceiling": ceiling, "by_database": by_database,
        "gateway_c1": gateway,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1, help="warm-up seconds per run")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated concurrencies")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--hosts", help="comma-separated hosts to measure (default: every available one)")
    parser.add_argument("--databases", help="comma-separated backends, file and libsql "
                        "(default: every available one)")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS, help="where the results go")
    parser.add_argument("--only-signup-memory", action="store_true",
                        help="measure sign-up memory alone and print it (for sizing deploy limits)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    seconds, warmup = max(1, round(args.seconds)), max(1, round(args.warmup))
    commands = available_hosts()
    names = args.hosts.split(",") if args.hosts else list(commands)
    missing = [name for name in names if name not in commands]
    if missing:
        sys.exit(f"not available here: {', '.join(missing)} (Spin: set SPIN_BIN)")
    backends = args.databases.split(",") if args.databases else hosts.databases()
    if "libsql" in backends and "libsql" not in hosts.databases():
        sys.exit("libsql is not available here: set SQLD_BIN or put sqld on PATH")

    if args.only_signup_memory:
        for name in names:
            print(name, json.dumps(signup_memory(name, commands[name], concurrencies, seconds), indent=2))
        return
    results = [measure(name, commands[name], args, backends, concurrencies, warmup, seconds) for name in names]
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    run = {"date": date, "machine": machine(),
           "settings": {"seconds": seconds, "warmup": warmup, "concurrency": concurrencies},
           "hosts": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{date}.json").write_text(json.dumps(run, indent=2) + "\n")
    table = markdown(run)
    (args.out / f"{date}.md").write_text(table)
    print(table)
    errors = sum(row["errors"] for result in results
                 for row in result["ceiling"] + [r for d in result["by_database"]
                                                 for e in d["endpoints"] for r in e["runs"]]
                 + [d["after_writes"][w] for d in result["by_database"] for w in ("before", "after")]
                 + [r for d in result["by_database"] for r in (d["sqld_alone"] or {}).values()]
                 + list(result["gateway_c1"].values()))
    if errors:
        sys.exit(f"{errors} requests failed")


if __name__ == "__main__":
    main()
