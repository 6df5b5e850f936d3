#!/usr/bin/env python3
"""What one fdatasync costs on this disk: the floor under every answer of `--durability disk`.

confab's default durability answers a write only after the `fdatasync` of the WAL that covers
it (docs/benchmark.md). This measures that sync on its own, on the filesystem the benchmark's
stores live on (`target/`), the way confab's syncer meets it: a file written ahead of time (the
WAL is, `src/store/wal.rs`), so that a sync writes pages and no file size; then, again and
again, N pages of 4 KiB overwritten in place and one `fdatasync` timed. It prints the p50 and
p90 of the sync for each N.

    bench/sync_latency.py                    # 1, 4, 10, 30, 60 pages, 300 syncs each
    bench/sync_latency.py --pages 1 30 --syncs 1000 --dir /var/lib/confab

Linux (macOS has no `fdatasync`); it writes and removes a 64 MiB file in --dir. The machine
should be otherwise idle: a sync waits for the disk, which other processes share.
"""

import argparse
import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = 4096
FILE_BYTES = 64 << 20


def percentile(sorted_values, fraction):
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=os.path.join(ROOT, "target"))
    parser.add_argument("--pages", type=int, nargs="+", default=[1, 4, 10, 30, 60])
    parser.add_argument("--syncs", type=int, default=300)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    path = os.path.join(args.dir, "sync-latency.bin")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # Written and synced ahead, as confab keeps its WAL: later syncs write no metadata.
        for offset in range(0, FILE_BYTES, 1 << 20):
            os.pwrite(fd, b"\1" * (1 << 20), offset)
        os.fsync(fd)
        page = b"\2" * PAGE
        offset = 0
        print(f"fdatasync after N pages of 4 KiB overwritten, {args.syncs} syncs each, "
              f"in {args.dir}")
        print("| pages | p50 µs | p90 µs | CPU µs per sync, mean |")
        print("|---:|---:|---:|---:|")
        for pages in args.pages:
            micros = []
            cpu_micros = 0.0
            for _ in range(args.syncs):
                for _ in range(pages):
                    os.pwrite(fd, page, offset)
                    offset = (offset + PAGE) % FILE_BYTES
                started, cpu_started = time.perf_counter(), time.thread_time()
                os.fdatasync(fd)
                micros.append((time.perf_counter() - started) * 1e6)
                cpu_micros += (time.thread_time() - cpu_started) * 1e6
            micros.sort()
            print(f"| {pages} | {percentile(micros, 0.5):.0f} | {percentile(micros, 0.9):.0f} "
                  f"| {cpu_micros / args.syncs:.0f} |")
    finally:
        os.close(fd)
        os.remove(path)


if __name__ == "__main__":
    main()
