#!/usr/bin/env python3
"""Instructions per request, counted by valgrind's callgrind: the benchmark's figure that this
machine's noise does not move.

The load benchmark (bench/run.sh) measures time, and on a shared VM the same build measured
twice differs by 10 to 40%, so a change worth 5% cannot be seen there. callgrind counts the
instructions confab executes in user space instead: the same binary, store and requests give
the same count within a fraction of a percent, whatever else the machine is doing. It does not
count the kernel (sockets, fdatasync) or memory stalls, so it judges changes to confab's own
code, not the whole request; the load benchmark still decides the targets.

For each scenario, confab runs under callgrind twice on fresh copies of one store, answering
LOW and then HIGH requests on one keep-alive connection; (count(HIGH) - count(LOW)) /
(HIGH - LOW) is the cost of one request with start-up and shutdown taken out. Scenarios that
cycle over a list of resources add one pass over the list to both, so that only warm requests
are counted, as in the load runs. The baseline
server (bench/bench_baseline.rs) is counted the same way, and, with --against, a second
confab build, so that two builds are compared request for request.

    bench/instructions.py                          # this checkout's dist build
    bench/instructions.py --against /tmp/confab-old
    bench/instructions.py --scenarios "msg_list_first msg_post_one"

It builds what bench/run.sh builds (the `dist` profile: fat LTO). The store is seeded once, through bench/bench.py (small sizes, 1 connection, no report kept),
into target/instructions-store, and reused while it exists. Needs valgrind.
"""

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the scenarios, the seeding and the HTTP helpers are bench.py's)

ROOT = bench.ROOT
RELEASE = os.path.join(ROOT, "target", "dist")  # the profile bench/run.sh measures
STORE = os.path.join(ROOT, "target", "instructions-store")
WORK = os.path.join(ROOT, "target", "instructions-runs")
PORT = 18797
DEFAULT_SCENARIOS = ("conv_fetch msg_list_first pc_list@big conv_create@big msg_post_one "
                     "msg_post_spread")
# What the seeding asks of bench.py: every scenario's data, small, and measured only briefly.
SEED_ENV = {
    "BENCH_MESSAGES": "20000", "BENCH_CONVERSATIONS": "2000", "BENCH_SPREAD": "1000",
    "BENCH_CONNS": "1", "BENCH_REPEAT": "1", "BENCH_DURATION": "0.2", "BENCH_WARMUP": "0.1",
    "BENCH_SCENARIOS": "pc_list@big conv_fetch msg_post_spread msg_list_first",
    "BENCH_KEEP": "1", "BENCH_DIR": STORE, "BENCH_OUT": os.path.join(WORK, "seed-report"),
}


def seed():
    if os.path.exists(os.path.join(STORE, "spread.txt")):
        return
    shutil.rmtree(STORE, ignore_errors=True)
    bench.log(f"seeding {STORE} through bench/bench.py")
    os.makedirs(WORK, exist_ok=True)
    with open(os.path.join(WORK, "seed.log"), "wb") as log:
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench.py")], check=True,
                       env={**os.environ, **SEED_ENV}, stdout=log, stderr=subprocess.STDOUT)


def store_context():
    """The bench account's credentials and the files bench.py left for the templates."""
    db = sqlite3.connect(os.path.join(STORE, "confab.db"))
    creds = db.execute("SELECT sid, auth_token FROM accounts WHERE friendly_name = 'bench'"
                       ).fetchone()
    (big,) = db.execute("SELECT sid FROM conversations WHERE unique_name = 'bench-big'"
                        ).fetchone()
    db.close()
    return creds, {"big": big, "convs": os.path.join(STORE, "convs.txt"),
                   "spread": os.path.join(STORE, "spread.txt")}


def counted(argv, ready, send, label):
    """Runs argv under callgrind, waits for `ready`, calls `send`, stops it with SIGTERM and
    answers the instructions counted over the process's life, every thread summed."""
    out = os.path.join(WORK, f"{label}.callgrind")
    for old in [f for f in os.listdir(WORK) if f.startswith(f"{label}.callgrind")]:
        os.remove(os.path.join(WORK, old))
    log = open(os.path.join(WORK, f"{label}.log"), "wb")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--separate-threads=yes",
                             f"--callgrind-out-file={out}", *argv],
                            stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info")})
    log.close()
    deadline = time.time() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited under valgrind; see {WORK}/{label}.log")
        try:
            ready()
            break
        except (OSError, RuntimeError):
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    send()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    total = 0
    for name in os.listdir(WORK):
        if name.startswith(f"{label}.callgrind"):
            with open(os.path.join(WORK, name)) as f:
                for line in f:
                    if line.startswith("summary:"):
                        total += int(line.split()[1])
                        break
    return total


def per_request(binary, kind, scenario, creds, context, low, high, name=None):
    """Instructions per request of one server (`kind` confab or baseline) for one scenario;
    `name` tells two confab builds' files apart."""
    _, _, method, path, body, sids, route = bench.SCENARIOS[scenario]
    path = path.replace("{big}", context["big"])
    sids_file = context.get(sids) if sids else None
    # Requests that cycle over a list of resources (`{sid}`) first go once around it: the first
    # touch of each fills confab's conversation cache, which the load runs' repeated passes
    # find warm; the difference then counts warm requests only.
    if sids_file:
        with open(sids_file) as f:
            warm_up = sum(1 for line in f if line.strip())
        low, high = low + warm_up, high + warm_up
    totals = []
    for count in (low, high):
        run_dir = os.path.join(WORK, "store")
        shutil.rmtree(run_dir, ignore_errors=True)
        os.makedirs(run_dir)
        if kind == "confab":
            for suffix in ("", "-wal"):
                src = os.path.join(STORE, "confab.db" + suffix)
                if os.path.exists(src):
                    shutil.copy(src, run_dir)
            argv = [binary, "--db", os.path.join(run_dir, "confab.db"),
                    "--listen", f"127.0.0.1:{PORT}"]
            probe_path, target = "/v1/Conversations?PageSize=1", path
        else:
            argv = [binary, "--listen", f"127.0.0.1:{PORT}", "--db",
                    os.path.join(run_dir, "baseline.db"), "--account-sid", creds[0],
                    "--auth-token", creds[1]]
            probe_path, target = "/parse/healthz", f"/{route}{path}"

        def send(count=count, target=target):
            r = bench.loadgen(PORT, creds, method, target, body, sids=sids_file, conns=1,
                              count=count)
            if r["errors"]:
                raise RuntimeError(f"{scenario} on {kind}: {r['first_errors']}")

        totals.append(counted(argv, lambda: bench.request(PORT, "GET", probe_path, creds,
                                                          timeout=5),
                              send, f"{name or kind}-{scenario}-{count}"))
    return (totals[1] - totals[0]) / (high - low)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--confab", default=os.path.join(RELEASE, "confab"))
    parser.add_argument("--against", help="a second confab binary, counted the same way")
    parser.add_argument("--scenarios", default=DEFAULT_SCENARIOS)
    parser.add_argument("--low", type=int, default=200)
    parser.add_argument("--high", type=int, default=1200)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    os.makedirs(WORK, exist_ok=True)
    subprocess.run(["cargo", "build", "--profile", "dist", "--locked", "--bin", "confab",
                    "--example", "bench_baseline", "--example", "loadgen"], cwd=ROOT, check=True)
    seed()
    creds, context = store_context()
    servers = [("confab", args.confab)] + ([("against", args.against)] if args.against else [])
    header = "| scenario | " + " | ".join(
        f"{k} ({os.path.relpath(b, ROOT) if b.startswith(ROOT) else b})" for k, b in servers)
    print(header + " | baseline | confab / baseline |")
    print("|---|" + "---:|" * (len(servers) + 2))
    for scenario in args.scenarios.split():
        if scenario not in bench.SCENARIOS:
            sys.exit(f"unknown scenario {scenario!r}")
        figures = [per_request(b, "confab", scenario, creds, context, args.low, args.high, name)
                   for name, b in servers]
        route = bench.SCENARIOS[scenario][6]
        base = per_request(bench.BASELINE, "baseline", scenario, creds, context, args.low,
                           args.high)
        cells = " | ".join(f"{f / 1000:.1f}k" for f in figures)
        print(f"| {scenario} | {cells} | {base / 1000:.1f}k ({route}) | "
              f"{figures[0] / base:.2f} |", flush=True)


if __name__ == "__main__":
    main()
