#!/usr/bin/env python3
"""What a webhook delivery costs as the backlog drains.

Starts confab (a fresh SQLite file under target/, defaults) and the baseline server, whose
`POST /hook` answers 200 at once and counts; configures the account's webhook to it
(`onMessageAdded`); posts N messages, spread over C conversations, as fast as 64 connections
go, with `X-Twilio-Webhook-Enabled: true`; then follows the deliveries until all N have
arrived. Once the posting is over the backlog is known (posted minus delivered), and the drain
is cut into quarters by what was delivered: each quarter's events per second and confab's CPU
per event. If a delivery cost grew with the backlog, the first quarter (the largest backlog)
would be the slowest.

    bench/backlog.py                        # 20,000 and 40,000 events over 1,000 conversations
    bench/backlog.py --events 5000 --conversations 100 --profile debug

Build first (bench/run.sh builds the same binaries). Linux only (it reads /proc).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

PORT = 18797
HOOK_PORT = 18796


def hooks_received():
    return bench.request(HOOK_PORT, "GET", "/hook", ("x", "x"))["count"]


def run(events, conversations, binaries, workdir):
    confab_bin, baseline_bin, loadgen_bin = binaries
    bench.LOADGEN = loadgen_bin
    db = os.path.join(workdir, f"backlog-{events}.db")
    confab = bench.Server([confab_bin, "--db", db, "--listen", f"127.0.0.1:{PORT}"],
                          os.path.join(workdir, "confab.log"),
                          lambda: bench.request(PORT, "GET", "/v1/Conversations?PageSize=1",
                                                bench.OPERATOR, timeout=5))
    receiver = bench.Server([baseline_bin, "--listen", f"127.0.0.1:{HOOK_PORT}", "--db",
                             os.path.join(workdir, f"receiver-{events}.db")],
                            os.path.join(workdir, "receiver.log"), hooks_received)
    confab.start()
    receiver.start()
    try:
        account = bench.request(PORT, "POST", "/confab/Accounts", bench.OPERATOR,
                                {"FriendlyName": "backlog"})
        creds = (account["account_sid"], account["auth_token"])
        sids = os.path.join(workdir, "convs.txt")
        bench.loadgen(PORT, creds, "POST", "/v1/Conversations", "FriendlyName=c{i}",
                      conns=16, count=conversations, save_to=sids)
        bench.request(PORT, "POST", "/v1/Configuration/Webhooks", creds, {
            "Target": "webhook", "Method": "POST", "Filters": "onMessageAdded",
            "PostWebhookUrl": f"http://127.0.0.1:{HOOK_PORT}/hook"})
        start = hooks_received()

        posting = {}

        def post():
            posting["result"] = bench.loadgen(
                PORT, creds, "POST", "/v1/Conversations/{sid}/Messages",
                "Author=bench&Body=hello+{i}", sids=sids, conns=64, count=events,
                headers=["X-Twilio-Webhook-Enabled: true"])

        poster = threading.Thread(target=post)
        began = time.perf_counter()
        poster.start()
        samples = []  # (seconds, delivered, confab CPU seconds), once the posting is over
        while True:
            delivered = hooks_received() - start
            if not poster.is_alive() and "done" not in posting:
                posting["done"] = time.perf_counter() - began
                posting["delivered_then"] = delivered
            if "done" in posting:
                samples.append((time.perf_counter(), delivered,
                                bench.cpu_seconds(confab.proc.pid)))
            if delivered >= events:
                break
            if time.perf_counter() - began > 600:
                raise RuntimeError(f"only {delivered} of {events} webhooks arrived in 600 s")
            time.sleep(0.05)
        result = posting["result"]
        if result["errors"]:
            raise RuntimeError(f"posting failed: {result['first_errors']}")
        return posting, samples
    finally:
        confab.stop()
        receiver.stop()


def quarters(events, backlog, samples):
    """The drain cut into quarters by delivered count: (backlog at its start, events/s, CPU µs
    per event)."""
    out = []
    first = samples[0][1]
    for q in range(4):
        lo = first + backlog * q // 4
        hi = first + backlog * (q + 1) // 4
        a = next(s for s in samples if s[1] >= lo)
        b = next(s for s in samples if s[1] >= hi)
        n = b[1] - a[1]
        if n <= 0 or b[0] <= a[0]:
            continue
        out.append((events - a[1], n / (b[0] - a[0]), (b[2] - a[2]) * 1e6 / n))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[20000, 40000])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--profile", default="release")
    args = parser.parse_args()
    binaries = [os.path.join(bench.ROOT, "target", args.profile, *p)
                for p in (["confab"], ["examples", "bench_baseline"], ["examples", "loadgen"])]
    for path in binaries:
        if not os.path.exists(path):
            sys.exit(f"missing {path}: build it first (bench/run.sh, or cargo build --profile "
                     f"{args.profile} --bin confab --example bench_baseline --example loadgen)")
    workdir = tempfile.mkdtemp(prefix="confab-backlog-", dir=os.path.join(bench.ROOT, "target"))
    print("| events | posted in | delivered by then | backlog at the quarter's start | "
          "events/s | confab CPU µs/event |")
    print("|---:|---:|---:|---:|---:|---:|")
    for events in args.events:
        posting, samples = run(events, args.conversations, binaries, workdir)
        backlog = events - posting["delivered_then"]
        for at, rate, cpu in quarters(events, backlog, samples):
            print(f"| {events} | {posting['done']:.1f} s | {posting['delivered_then']} | {at} | "
                  f"{rate:.0f} | {cpu:.0f} |", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
