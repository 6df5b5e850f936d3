#!/usr/bin/env python3
"""Where a request's CPU and writes go, thread by thread, under load.

Runs confab on a fresh copy of bench/instructions.py's store, drives one scenario for a fixed
time at a given number of connections, and divides what each of confab's threads did over that
time (CPU: utime + stime from /proc/<pid>/task/<tid>/stat; bytes written: wchar from
/proc/<pid>/task/<tid>/io) by the requests answered. The writer thread's bytes are the WAL
frames its commits wrote, so this is how docs/benchmark.md measures how many pages a message
dirties. Threads of one name are summed (the runtime's workers as `tokio-rt-worker`; Linux
keeps 15 characters of a thread's name). It also gives how busy the machine's CPUs were over the
run: under 100%, the requests in flight were waiting on the disk or on wake-ups, not on a CPU.

    bench/threads.py                                        # msg_post_spread, 64 connections
    bench/threads.py --scenario msg_post_one --conns 16 --confab /tmp/confab-old
    bench/threads.py --baseline                             # its baseline, the same way
    bench/threads.py --dir /dev/shm                         # the store on a tmpfs (no sync cost)

Linux only (it reads /proc). The figures are CPU time, so they move with the machine's load;
alternate two builds, as docs/benchmark.md does, to compare them.
"""

import argparse
import collections
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import instructions  # noqa: E402  (the seeded store and its context)

PORT = 18798
RUN = "threads-run"  # the store's copy, in --dir, removed and made anew by each run


def per_thread(pid):
    """{thread name: (cpu ticks, bytes written)}, threads of the same name summed."""
    totals = collections.defaultdict(lambda: [0, 0])
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/task/{tid}/io") as f:
                io = dict(line.split(": ") for line in f.read().splitlines())
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        totals[name][0] += int(fields[11]) + int(fields[12])
        totals[name][1] += int(io["wchar"])
    return totals


def machine_ticks():
    """(busy, all) CPU ticks of the whole machine so far, from /proc/stat (iowait counts as idle)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--confab", default=os.path.join(instructions.RELEASE, "confab"))
    parser.add_argument("--scenario", default="msg_post_spread")
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--dir", default=os.path.join(bench.ROOT, "target"),
                        help=f"where the store's copy ({RUN}/) is made and served from: "
                             "another file system, e.g. a tmpfs, shows what the disk costs")
    parser.add_argument("--baseline", action="store_true",
                        help="drive the scenario's baseline server instead of confab")
    args = parser.parse_args()
    if args.scenario not in bench.SCENARIOS:
        sys.exit(f"unknown scenario {args.scenario!r}")
    subprocess.run(["cargo", "build", "--profile", "dist", "--locked", "--bin", "confab",
                    "--example", "loadgen", "--example", "bench_baseline"], cwd=bench.ROOT,
                   check=True)
    instructions.seed()
    creds, context = instructions.store_context()
    _, _, method, path, body, sids, _ = bench.SCENARIOS[args.scenario]
    path = path.replace("{big}", context["big"])
    sids_file = context.get(sids) if sids else None

    run = os.path.join(args.dir, RUN)
    shutil.rmtree(run, ignore_errors=True)
    os.makedirs(run)
    for suffix in ("", "-wal"):
        src = os.path.join(instructions.STORE, "confab.db" + suffix)
        if os.path.exists(src):
            shutil.copy(src, run)
    if args.baseline:
        # The same requests to the scenario's baseline, under its prefix, on a new file.
        path = ("/insert" if method == "POST" else "/parse") + path
        server = bench.Server([bench.BASELINE, "--db", os.path.join(run, "baseline.db"),
                               "--listen", f"127.0.0.1:{PORT}",
                               "--account-sid", creds[0], "--auth-token", creds[1]],
                              os.path.join(run, "baseline.log"),
                              lambda: bench.request(PORT, "GET", "/parse/healthz", creds,
                                                    timeout=5))
    else:
        server = bench.Server([args.confab, "--db", os.path.join(run, "confab.db"),
                               "--listen", f"127.0.0.1:{PORT}"],
                              os.path.join(run, "confab.log"),
                              lambda: bench.request(PORT, "GET",
                                                    "/v1/Conversations?PageSize=1",
                                                    creds, timeout=5))
    server.start()
    try:
        pid = server.proc.pid
        # One uncounted pass warms the conversation cache, as the load runs find it.
        bench.loadgen(PORT, creds, method, path, body, sids=sids_file, conns=args.conns,
                      count=1000)
        before = per_thread(pid)
        machine_before = machine_ticks()
        result = bench.loadgen(PORT, creds, method, path, body, sids=sids_file,
                               conns=args.conns, duration=args.seconds)
        after = per_thread(pid)
        machine_after = machine_ticks()
    finally:
        server.stop()
    if result["errors"]:
        sys.exit(f"{result['errors']} requests failed: {result['first_errors']}")
    answered = result["requests"]
    tick = os.sysconf("SC_CLK_TCK")
    print(f"{args.scenario} at {args.conns} connections: {answered} requests in "
          f"{args.seconds} s ({answered / args.seconds:.0f}/s)")
    print("| thread | CPU µs per request | bytes written per request |")
    print("|---|---:|---:|")
    total = 0.0
    for name in sorted(after):
        ticks = after[name][0] - before.get(name, [0, 0])[0]
        written = after[name][1] - before.get(name, [0, 0])[1]
        micros = ticks / tick / answered * 1e6
        total += micros
        if ticks or written:
            print(f"| {name} | {micros:.1f} | {written / answered:.0f} |")
    print(f"| all | {total:.1f} | |")
    busy, every = (b - a for a, b in zip(machine_before, machine_after))
    print(f"The machine's CPUs (confab, the load generator and anything else) were "
          f"{100 * busy / every:.0f}% busy.")


if __name__ == "__main__":
    main()
