#!/usr/bin/env python3
"""confab's benchmark driver. Run it through bench/run.sh, which builds the binaries first.

It starts confab (release build, a real SQLite file on disk, default durability; or, with
BENCH_PG, one or two confab nodes on a fresh PostgreSQL database) and the baseline server
(bench/bench_baseline.rs, inserting into SQLite, or into PostgreSQL with BENCH_PG) side by side, seeds data through confab's HTTP API
with the load generator (bench/loadgen.rs), then measures every scenario at each connection
count, repeated, alternating confab and its baseline, and reports medians and ratios.

Everything is configured by environment variables (see README "Benchmark" and
docs/benchmark.md); `--smoke` uses tiny sizes and short runs and only checks that every request
answers 2xx. Exits non-zero if any request of any run (or of the seeding) was not 2xx.
"""

import base64
import datetime
import http.client
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = "--smoke" in sys.argv[1:]


def env(name, default):
    value = os.environ.get(name)
    return default if value in (None, "") else value


# The PostgreSQL mode: a server's maintenance database URL. confab and the baseline each get a
# database of their own there, created for the run and dropped after it.
PG = env("BENCH_PG", "")
NODES = int(env("BENCH_NODES", "1"))  # confab nodes on the one database (PostgreSQL only)
if NODES != 1 and not PG:
    sys.exit("BENCH_NODES needs BENCH_PG: several nodes share one PostgreSQL database")
PROFILE = env("BENCH_PROFILE", "debug" if SMOKE else "dist")
BIN = os.path.join(ROOT, "target", PROFILE)
CONFAB = env("BENCH_CONFAB", os.path.join(BIN, "confab"))  # another build, to compare
CONFAB_ARGS = env("BENCH_CONFAB_ARGS", "").split()  # e.g. "--durability process"
BASELINE = os.path.join(BIN, "examples", "bench_baseline")
LOADGEN = os.path.join(BIN, "examples", "loadgen")

DURATION = float(env("BENCH_DURATION", "0.5" if SMOKE else "5"))
WARMUP = float(env("BENCH_WARMUP", "0.1" if SMOKE else "1"))
REPEAT = int(env("BENCH_REPEAT", "1" if SMOKE else "3"))
CONNS = [int(c) for c in env("BENCH_CONNS", "1 16" if SMOKE else "1 16 64").split()]
MESSAGES = int(env("BENCH_MESSAGES", "2000" if SMOKE else ("100000" if PG else "1000000")))
CONVERSATIONS = int(env("BENCH_CONVERSATIONS", "200" if SMOKE else "10000"))
SPREAD = int(env("BENCH_SPREAD", "50" if SMOKE else "1000"))
PARTICIPANT_BATCH = 500
SEED_CONNS = int(env("BENCH_SEED_CONNS", "64"))
LOADGEN_THREADS = int(env("BENCH_LOADGEN_THREADS", "1"))
PORT = int(env("BENCH_PORT", "18787"))
PORTS = [PORT + 2 * k for k in range(NODES)]  # node k listens on PORT + 2k
BASE_PORT = int(env("BENCH_BASELINE_PORT", "18788"))
KEEP = env("BENCH_KEEP", "0") == "1"
OUT_DIR = env("BENCH_OUT", os.path.join(ROOT, "target", "bench"))
IDENTITY = "bench-user"

OPERATOR = ("AC0123456789abcdef0123456789abcdef", "confab_dev_auth_token")

# name -> (phase, kind, method, path, body, sids, baseline route)
# The path may use {big} (the big conversation), {sid} (spread over the seeded conversations),
# {deep} (a page token deep into the big conversation) and {i} (the request number).
SCENARIOS = {
    "pc_list@small": ("small", "read", "GET",
                    f"/v1/ParticipantConversations?Identity={IDENTITY}", None, None, "parse"),
    "conv_create@small": ("small", "write", "POST", "/v1/Conversations",
                        "FriendlyName=bench+{i}", None, "insert"),
    "conv_fetch": ("big", "read", "GET", "/v1/Conversations/{sid}", None, "convs", "parse"),
    "msg_list_first": ("big", "read", "GET", "/v1/Conversations/{big}/Messages?PageSize=50",
                       None, None, "parse"),
    "msg_list_deep": ("big", "read", "GET", "{deep}", None, None, "parse"),  # + first page
    "pc_list@big": ("big", "read", "GET",
                   f"/v1/ParticipantConversations?Identity={IDENTITY}", None, None, "parse"),
    "conv_create@big": ("big", "write", "POST", "/v1/Conversations",
                       "FriendlyName=bench+{i}", None, "insert"),
    "msg_post_one": ("big", "write", "POST", "/v1/Conversations/{big}/Messages",
                     "Author=bench&Body=hello+world+{i}", None, "insert"),
    "msg_post_spread": ("big", "write", "POST", "/v1/Conversations/{sid}/Messages",
                        "Author=bench&Body=hello+world+{i}", "spread", "insert"),
    # The two above again, confab restarted on the same store with `--durability process`.
    "msg_post_one@process": ("process", "write", "POST", "/v1/Conversations/{big}/Messages",
                             "Author=bench&Body=hello+world+{i}", None, "insert"),
    "msg_post_spread@process": ("process", "write", "POST", "/v1/Conversations/{sid}/Messages",
                                "Author=bench&Body=hello+world+{i}", "spread", "insert"),
}
# BENCH_STREAMS=N adds the two POST scenarios again with N idle event streams (another account,
# on which nothing happens) and N live ones (the posting account: each gets every event) held
# open by the load generator (GET /confab/Events): what open streams cost the API.
# BENCH_LIVE_STREAMS sets the live ones apart (0: idle streams only).
STREAMS = int(env("BENCH_STREAMS", "0"))
LIVE_STREAMS = int(env("BENCH_LIVE_STREAMS", str(STREAMS)))  # 0: idle streams only
if STREAMS > 0:
    SCENARIOS["msg_post_one@streams"] = SCENARIOS["msg_post_one"]
    SCENARIOS["msg_post_spread@streams"] = SCENARIOS["msg_post_spread"]
# On PostgreSQL, conv_fetch again against the select baseline (one SELECT by primary key per
# request, over the same kind of pool): what reading the database on every request costs any
# server, beside the parse-only target.
if PG:
    SCENARIOS["conv_fetch@select"] = SCENARIOS["conv_fetch"][:6] + ("select",)

DESCRIPTIONS = {
    "pc_list@small": "GET /v1/ParticipantConversations?Identity= (first page; the identity is in "
                     "every seeded conversation), store before the big conversation is seeded",
    "conv_create@small": "POST /v1/Conversations, store before the big conversation is seeded",
    "conv_fetch": "GET /v1/Conversations/{sid}, round-robin over the identity's conversations",
    "msg_list_first": "GET .../Messages?PageSize=50, first page of the big conversation",
    "msg_list_deep": "the same list page by PageToken, halfway into the big conversation",
    "pc_list@big": "GET /v1/ParticipantConversations?Identity=, store with the big conversation",
    "conv_create@big": "POST /v1/Conversations, store with the big conversation (and the "
                       "conversations the earlier runs created)",
    "msg_post_one": "POST .../Messages (form, Basic auth) into the big conversation",
    "msg_post_spread": "POST .../Messages spread round-robin over the open conversations",
    "msg_post_one@process": "msg_post_one, confab answering each write once it is committed "
                            "(`--durability process`: it survives kill -9, not a power loss; "
                            "the baseline's durability)",
    "msg_post_spread@process": "msg_post_spread, with `--durability process`",
    "msg_post_one@streams": f"msg_post_one, with {STREAMS} idle and {LIVE_STREAMS} live event "
                            "streams open on confab",
    "msg_post_spread@streams": f"msg_post_spread, with {STREAMS} idle and {LIVE_STREAMS} live "
                               "event streams open on confab",
    "conv_fetch@select": "conv_fetch, against the select baseline (PostgreSQL only)",
}


def human(n):
    for unit, size in (("M", 1_000_000), ("k", 1000)):
        if n >= size and n % (size // 10) == 0:
            return f"{n / size:g}{unit}"
    return str(n)


def label(name):
    """Scenario names as printed: the store sizes instead of small/big."""
    return (name.replace("@small", f"@{human(CONVERSATIONS)}")
            .replace("@big", f"@{human(MESSAGES)}"))


# On PostgreSQL `--durability` does not apply (the database's commit is the sync): the
# process scenarios are left out.
DEFAULT_SCENARIOS = [s for s in SCENARIOS if not (PG and s.endswith("@process"))]
SELECTED = env("BENCH_SCENARIOS", " ".join(DEFAULT_SCENARIOS)).replace(",", " ").split()
for name in SELECTED:
    if name not in SCENARIOS:
        sys.exit(f"unknown scenario {name!r}; known: {' '.join(SCENARIOS)}")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def auth_header(creds):
    return "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()


def request(port, method, path, creds, form=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": auth_header(creds)}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    res = conn.getresponse()
    data = res.read()
    conn.close()
    if not 200 <= res.status < 300:
        raise RuntimeError(f"{method} {path}: {res.status} {data[:300]!r}")
    return json.loads(data) if data else None


def rss_kib(pid):
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0])
    return out["VmRSS"], out["VmHWM"]


def cpu_seconds(pid):
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, argv, log_path, probe):
        self.argv = argv
        self.log_path = log_path
        self.probe = probe  # answers once the server answers a real request
        self.proc = None

    def start(self):
        """Starts the process; answers the milliseconds from spawn to the first answered request."""
        logf = open(self.log_path, "ab")
        started = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited with {self.proc.returncode}; "
                                   f"see {self.log_path}")
            try:
                self.probe()
                return (time.perf_counter() - started) * 1000
            except (OSError, RuntimeError):
                if time.perf_counter() - started > 60:
                    raise
            time.sleep(0.001)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def loadgen(ports, creds, method, path, body=None, sids=None, conns=1, duration=None,
            count=None, save_to=None, headers=(), streams=None):
    """`ports`: one port, or several (the nodes), over which the connections are spread."""
    addrs = [a for p in (ports if isinstance(ports, list) else [ports])
             for a in ("--addr", f"127.0.0.1:{p}")]
    argv = [LOADGEN, *addrs, "--conns", str(conns),
            "--threads", str(LOADGEN_THREADS), "--auth", f"{creds[0]}:{creds[1]}",
            "--method", method, "--path", path]
    if streams is not None:
        idle, live, idle_creds = streams
        argv += ["--idle-streams", str(idle), "--idle-auth", f"{idle_creds[0]}:{idle_creds[1]}",
                 "--live-streams", str(live)]
    if body is not None:
        argv += ["--body", body]
    if sids is not None:
        argv += ["--sids", sids]
    if count is not None:
        argv += ["--count", str(count)]
    else:
        argv += ["--duration", str(duration), "--warmup", str(WARMUP)]
    if save_to is not None:
        argv += ["--save-to", save_to]
    for header in headers:
        argv += ["--header", header]
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


class Bench:
    def __init__(self):
        os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
        self.dir = env("BENCH_DIR", "") or tempfile.mkdtemp(prefix="confab-bench-",
                                                            dir=os.path.join(ROOT, "target"))
        os.makedirs(self.dir, exist_ok=True)
        if PG:
            self.pg_databases = [f"confab_bench_{os.getpid()}", f"confab_bench_base_{os.getpid()}"]
            for name in self.pg_databases:
                psql(PG, f"DROP DATABASE IF EXISTS {name}")
                psql(PG, f"CREATE DATABASE {name}")
            self.db, self.base_db = (pg_url(PG, name) for name in self.pg_databases)
        else:
            self.pg_databases = []
            self.db = os.path.join(self.dir, "confab.db")
            self.base_db = os.path.join(self.dir, "baseline.db")
            for path in (self.db, self.base_db):
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(path + suffix):
                        os.remove(path + suffix)
        self.nodes = [self.node(k, port) for k, port in enumerate(PORTS)]
        self.baseline = None
        self.errors = []  # (what, first errors)
        self.facts = {}
        self.results = {}  # scenario -> conns -> {"confab": [runs], "baseline": [runs]}
        self.context = {}

    def node(self, k, port):
        suffix = f"-{k + 1}" if NODES > 1 else ""
        return Server([CONFAB, "--db", self.db, "--listen", f"127.0.0.1:{port}", *CONFAB_ARGS],
                      os.path.join(self.dir, f"confab{suffix}.log"),
                      lambda: request(port, "GET", "/v1/Conversations?PageSize=1", OPERATOR,
                                      timeout=5))

    @property
    def confab(self):
        """The first node: the one the seeding's single requests go to."""
        return self.nodes[0]

    def start_nodes(self):
        """Starts every node (the first alone, so that it runs the migrations); answers the
        first node's start-up time."""
        started = self.nodes[0].start()
        for node in self.nodes[1:]:
            node.start()
        return started

    def stop_nodes(self):
        for node in self.nodes:
            node.stop()

    # ---- seeding -------------------------------------------------------------------------
    def seed(self, what, method, path, body, count, sids=None, save_to=None):
        started = time.perf_counter()
        r = loadgen(PORTS, self.creds, method, path, body, sids=sids, conns=SEED_CONNS,
                    count=count, save_to=save_to)
        seconds = time.perf_counter() - started
        self.check(f"seeding {what}", r)
        self.facts.setdefault("seeded", []).append(f"{count} {what} ({count / seconds:.0f}/s)")
        log(f"  seeded {count} {what} in {seconds:.1f} s ({count / seconds:.0f}/s,"
            f" p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms)")
        return seconds

    def check(self, what, r):
        if r["errors"]:
            self.errors.append((what, r["errors"], r["first_errors"]))
            log(f"  ERRORS in {what}: {r['errors']}: {r['first_errors']}")

    def seed_participants(self):
        """One participant of the same identity in every seeded conversation. A user may be in
        at most 1000 conversations that are not closed (Twilio's error 50214), so they are
        seeded in batches, and each batch of conversations is closed before the next."""
        with open(self.context["convs"]) as f:
            convs = f.read().split()
        started = time.perf_counter()
        for at in range(0, len(convs), PARTICIPANT_BATCH):
            chunk = os.path.join(self.dir, "chunk.txt")
            with open(chunk, "w") as f:
                f.write("\n".join(convs[at:at + PARTICIPANT_BATCH]) + "\n")
            n = len(convs[at:at + PARTICIPANT_BATCH])
            for what, path, body in (
                ("participants", "/v1/Conversations/{sid}/Participants", f"Identity={IDENTITY}"),
                ("conversation closings", "/v1/Conversations/{sid}", "State=closed"),
            ):
                r = loadgen(PORTS, self.creds, "POST", path, body, sids=chunk,
                            conns=SEED_CONNS, count=n)
                self.check(f"seeding {what}", r)
        seconds = time.perf_counter() - started
        self.facts.setdefault("seeded", []).append(
            f"{len(convs)} participants of identity {IDENTITY}, their conversations closed "
            f"({len(convs) / seconds:.0f}/s)")
        log(f"  seeded {len(convs)} participants ({IDENTITY}) and closed their conversations "
            f"in {seconds:.1f} s")
        page = request(PORT, "GET", f"/v1/ParticipantConversations?Identity={IDENTITY}",
                       self.creds)
        log(f"  ParticipantConversations first page: {len(page['conversations'])} rows")

    def checkpoint(self):
        """Moves the WAL into the database file (the server keeps running) and answers the
        store's bytes on disk. On PostgreSQL: an ANALYZE, a CHECKPOINT, and the database's size.
        The ANALYZE is what autovacuum does within a minute or so of the seeding's bulk load:
        without it, the scenarios would measure the plans that confab's connections cached for
        their prepared statements while the tables were nearly empty (PostgreSQL keeps a
        statement's generic plan until the table's statistics change), not the steady state
        (docs/design.md, "Storage engines")."""
        if PG:
            psql(self.db, "ANALYZE")
            psql(self.db, "CHECKPOINT")
            return self.store_bytes()
        conn = sqlite3.connect(self.db, timeout=30)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        return self.store_bytes()

    def store_bytes(self):
        if PG:
            return int(psql(self.db, "SELECT pg_database_size(current_database())"))
        return sum(os.path.getsize(self.db + s) for s in ("", "-wal", "-shm")
                   if os.path.exists(self.db + s))

    def count_rows(self, table):
        if PG:
            return int(psql(self.db, f"SELECT count(*) FROM {table}"))
        conn = sqlite3.connect(self.db, timeout=30)
        (n,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        conn.close()
        return n

    # ---- measuring -----------------------------------------------------------------------
    def expand(self, path):
        return (path.replace("{big}", self.context.get("big", ""))
                .replace("{deep}", self.context.get("deep", "")))

    def idle_account(self):
        """An account of its own for the idle event streams: nothing happens on it."""
        if "idle" not in self.context:
            account = request(PORT, "POST", "/confab/Accounts", OPERATOR,
                              form={"FriendlyName": "idle streams"})
            self.context["idle"] = (account["account_sid"], account["auth_token"])
        return self.context["idle"]

    def measure(self, name):
        phase, kind, method, path, body, sids, route = SCENARIOS[name]
        path = self.expand(path)
        sids_file = self.context.get(sids) if sids else None
        log(f"== {label(name)}: {method} {path}")
        # The deep page is also measured against the first page, run by run: the target is a
        # ratio between two confab figures, and the machine drifts between scenarios.
        paired = self.expand(SCENARIOS["msg_list_first"][3]) if name == "msg_list_deep" else None
        per = self.results.setdefault(name, {})
        for conns in CONNS:
            runs = per.setdefault(conns, {"confab": [], "baseline": []})
            for rep in range(REPEAT):
                order = ["baseline", "confab"] if rep % 2 == 0 else ["confab", "baseline"]
                if paired:
                    order.append("first_page")
                for who in order:
                    ports, p = {"baseline": (BASE_PORT, f"/{route}{path}"),
                                "confab": (PORTS, path),
                                "first_page": (PORTS, paired)}[who]
                    servers = [self.baseline] if who == "baseline" else self.nodes
                    cpu = sum(cpu_seconds(s.proc.pid) for s in servers)
                    streams = None
                    if name.endswith("@streams") and who == "confab":
                        streams = (STREAMS, LIVE_STREAMS, self.idle_account())
                    r = loadgen(ports, self.creds, method, p, body, sids=sids_file, conns=conns,
                                duration=DURATION, streams=streams)
                    if streams is not None:
                        log(f"    {r['streams']} streams open, {r['stream_events']} events "
                            "read on them")
                    # CPU per request over the whole run (warm-up included): less sensitive to
                    # the machine's other load than throughput is. Every node's, summed.
                    answered = sum(r["statuses"].values())
                    used = sum(cpu_seconds(s.proc.pid) for s in servers) - cpu
                    r["cpu_us"] = used * 1e6 / max(answered, 1)
                    self.check(f"{name} {who} c={conns}", r)
                    runs.setdefault(who, []).append(r)
                    if who != "baseline":
                        self.note_rss_peak()
            c, b = runs["confab"], runs["baseline"]
            log(f"  c={conns:<3} confab {med(c, 'rps'):9.0f} rps p50 {med(c, 'p50_ms'):7.3f} "
                f"p99 {med(c, 'p99_ms'):7.3f} | baseline {med(b, 'rps'):9.0f} rps "
                f"p50 {med(b, 'p50_ms'):7.3f} p99 {med(b, 'p99_ms'):7.3f} "
                f"| x{med(c, 'rps') / max(med(b, 'rps'), 1e-9):.2f} "
                f"| CPU/req {med(c, 'cpu_us'):.0f} us vs {med(b, 'cpu_us'):.0f} us")

    # ---- the run -------------------------------------------------------------------------
    def run(self):
        selected = [s for s in SCENARIOS if s in SELECTED]
        need_convs = any(SCENARIOS[s][5] == "convs" or s.startswith("pc_list") for s in selected)
        need_spread = any(SCENARIOS[s][5] == "spread" for s in selected)
        need_participants = any(s.startswith("pc_list") for s in selected)
        need_big = any(SCENARIOS[s][0] in ("big", "process") for s in selected)
        need_messages = any(s.startswith("msg_list") for s in selected)
        self.facts.update(started=datetime.datetime.now().isoformat(timespec="seconds"),
                          smoke=SMOKE, profile=PROFILE, duration_s=DURATION, warmup_s=WARMUP,
                          repeat=REPEAT, conns=CONNS, conversations=CONVERSATIONS,
                          messages=MESSAGES, spread=SPREAD, seed_conns=SEED_CONNS, dir=self.dir,
                          host=platform.node(), cpus=os.cpu_count(), kernel=platform.release(),
                          commit=git("rev-parse", "--short", "HEAD"),
                          engine=(f"PostgreSQL {psql(PG, 'SHOW server_version')}, "
                                  f"{NODES} node{'s' if NODES > 1 else ''}" if PG
                                  else "SQLite file"),
                          confab_args=" ".join(CONFAB_ARGS) or "none (the defaults)",
                          scenarios=selected)
        log(f"bench dir: {self.dir}")

        # confab, on an empty store: start-up time and memory at rest.
        self.facts["startup_empty_ms"] = self.start_nodes()
        time.sleep(0.5)
        self.facts["rss_rest_empty_kib"] = rss_kib(self.confab.proc.pid)[0]
        account = request(PORT, "POST", "/confab/Accounts", OPERATOR, {"FriendlyName": "bench"})
        self.creds = (account["account_sid"], account["auth_token"])

        store = ["--pg", self.base_db] if PG else ["--db", self.base_db]
        self.baseline = Server([BASELINE, "--listen", f"127.0.0.1:{BASE_PORT}", *store,
                                "--account-sid", self.creds[0], "--auth-token", self.creds[1]],
                               os.path.join(self.dir, "baseline.log"),
                               lambda: request(BASE_PORT, "GET", "/parse/healthz", self.creds,
                                               timeout=5))
        self.baseline.start()

        log("== seeding")
        if need_big:
            big = request(PORT, "POST", "/v1/Conversations", self.creds,
                          {"FriendlyName": "big", "UniqueName": "bench-big"})
            self.context["big"] = big["sid"]
        if need_convs:
            convs = os.path.join(self.dir, "convs.txt")
            self.seed("conversations", "POST", "/v1/Conversations", "FriendlyName=c{i}",
                      CONVERSATIONS, save_to=convs)
            self.context["convs"] = convs
        if need_participants:
            self.seed_participants()
        if need_spread:
            spread = os.path.join(self.dir, "spread.txt")
            self.seed("open conversations to spread messages over", "POST", "/v1/Conversations",
                      "FriendlyName=s{i}", SPREAD, save_to=spread)
            self.context["spread"] = spread

        # As before the big scenarios: the seeding's WAL is moved into the database first, so
        # that confab's checkpointer is not still copying it (on confab's CPU) while the first
        # scenarios are measured.
        self.checkpoint()
        for name in selected:
            if SCENARIOS[name][0] == "small":
                self.measure(name)
        if not need_big:
            return self.finish()

        self.facts["store_bytes_before_messages"] = self.checkpoint()
        if need_messages:
            seconds = self.seed("messages into one conversation", "POST",
                                f"/v1/Conversations/{self.context['big']}/Messages",
                                "Author=seed&Body=message+number+{i}", MESSAGES)
            self.facts["seed_messages_s"] = seconds
            self.facts["seed_messages_per_s"] = MESSAGES / seconds
            self.facts["store_bytes_after_messages"] = self.checkpoint()
            self.facts["store_bytes_per_message"] = (
                self.facts["store_bytes_after_messages"]
                - self.facts["store_bytes_before_messages"]) / MESSAGES
            self.facts["message_rows_seeded"] = self.count_rows("messages")
            self.find_deep_page()
        time.sleep(0.5)
        self.facts["rss_rest_seeded_kib"] = rss_kib(self.confab.proc.pid)[0]

        for name in selected:
            if SCENARIOS[name][0] == "big":
                self.measure(name)

        self.note_rss_peak()
        time.sleep(1)
        self.facts["rss_rest_after_load_kib"] = rss_kib(self.confab.proc.pid)[0]
        self.stop_nodes()
        self.measure_with_process_durability(selected)
        self.facts["store_bytes_final"] = self.checkpoint()
        self.facts["message_rows_final"] = self.count_rows("messages")
        self.facts["conversation_rows_final"] = self.count_rows("conversations")
        # Start-up on the full store.
        self.facts["startup_full_ms"] = self.start_nodes()
        time.sleep(0.5)
        self.facts["rss_rest_restarted_kib"] = rss_kib(self.confab.proc.pid)[0]
        return self.finish()

    def note_rss_peak(self):
        """The highest VmHWM of the confab processes so far (the process scenarios restart it;
        with several nodes, the largest node's)."""
        peak = max(rss_kib(node.proc.pid)[1] for node in self.nodes)
        self.facts["rss_peak_kib"] = max(self.facts.get("rss_peak_kib") or 0, peak or 0) or None

    def measure_with_process_durability(self, selected):
        """The process scenarios: confab restarted on the same store with `--durability
        process`, which answers a write once it is committed, as the single-insert baseline
        does, without the sync confab's default waits for. Beside the default's figures they
        show what that sync costs."""
        names = [name for name in selected if SCENARIOS[name][0] == "process"]
        if not names:
            return
        if "--durability" in CONFAB_ARGS:
            log(f"skipping {' '.join(names)}: BENCH_CONFAB_ARGS already sets --durability")
            return
        default = self.nodes
        self.nodes = [Server(default[0].argv + ["--durability", "process"], default[0].log_path,
                             default[0].probe)]
        try:
            self.confab.start()
            for name in names:
                self.measure(name)
            self.note_rss_peak()
        finally:
            self.confab.stop()
            self.nodes = default

    def find_deep_page(self):
        """The first page's next_page_url names the list's key; the deep page is the same URL
        with the key moved halfway into the conversation. It is checked to be a full page."""
        big = self.context["big"]
        first = request(PORT, "GET", f"/v1/Conversations/{big}/Messages?PageSize=50", self.creds)
        nxt = first["meta"]["next_page_url"]
        parsed = urllib.parse.urlsplit(nxt)
        query = urllib.parse.parse_qsl(parsed.query)
        token = dict(query)["PageToken"]
        parts = token[2:].split("_")
        parts[-1] = str(int(parts[-1]) + MESSAGES // 2)
        deep_token = token[:2] + "_".join(parts)
        query = [(k, deep_token if k == "PageToken" else (str(MESSAGES // 100) if k == "Page" else v))
                 for k, v in query]
        deep = f"{parsed.path}?{urllib.parse.urlencode(query)}"
        page = request(PORT, "GET", deep, self.creds)
        rows = page["messages"]
        if len(rows) != 50:
            raise RuntimeError(f"the deep page {deep} has {len(rows)} rows, not 50")
        first_index = rows[0].get("index")
        log(f"  deep page: {deep} (first index {first_index})")
        self.context["deep"] = deep
        self.facts["deep_page"] = deep
        self.facts["deep_page_first_index"] = first_index

    def stop(self):
        for s in (*self.nodes, self.baseline):
            if s:
                s.stop()
        for name in self.pg_databases:
            psql(PG, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.pg_databases = []

    # ---- report --------------------------------------------------------------------------
    def finish(self):
        self.stop()
        report = render(self.facts, self.results, self.errors)
        print(report)
        os.makedirs(OUT_DIR, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        kind = "smoke" if SMOKE else "full"
        md = os.path.join(OUT_DIR, f"results-{kind}-{stamp}.md")
        with open(md, "w") as f:
            f.write(report)
        with open(os.path.join(OUT_DIR, f"results-{kind}-{stamp}.json"), "w") as f:
            json.dump({"facts": self.facts, "results": {
                k: {str(c): v for c, v in per.items()} for k, per in self.results.items()},
                "errors": self.errors}, f, indent=1)
        log(f"results: {md}")
        return 1 if self.errors else 0


def psql(url, sql):
    """One statement through psql; answers its output."""
    return subprocess.run(["psql", url, "-qAtc", sql], check=True, capture_output=True,
                          text=True).stdout.strip()


def pg_url(server, database):
    """The URL of another database on the server `server` names."""
    return f"{server.rsplit('/', 1)[0]}/{database}"


def med(runs, key):
    return statistics.median(r[key] for r in runs) if runs else float("nan")


def git(*args):
    try:
        return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def mib(kib):
    return f"{kib / 1024:.1f} MiB" if kib is not None else "n/a"


def render(facts, results, errors):
    lines = []
    add = lines.append
    add(f"## Results {facts['started']} ({'smoke' if facts['smoke'] else 'full'} run)")
    add("")
    add(f"Commit `{facts['commit']}`, {facts['cpus']} CPUs, Linux {facts['kernel']}, "
        f"{facts['profile']} build, store: {facts['engine']}, confab's extra arguments: {facts['confab_args']}. Each figure is the median of {facts['repeat']} runs of "
        f"{facts['duration_s']} s (after {facts['warmup_s']} s of warm-up); confab and its "
        f"baseline alternate run by run. Seeded through the API with {facts['seed_conns']} "
        f"connections: {', '.join(facts.get('seeded', [])) or 'nothing'}.")
    add("")
    add("| scenario | conns | confab req/s | baseline req/s | ratio | confab p50 ms | "
        "baseline p50 ms | confab p99 ms | baseline p99 ms | confab CPU µs/req | "
        "baseline CPU µs/req | errors |")
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, per in results.items():
        route = SCENARIOS[name][6]
        for conns, runs in per.items():
            c, b = runs["confab"], runs["baseline"]
            errs = sum(r["errors"] for who in runs.values() for r in who)
            add(f"| {label(name)} | {conns} | {med(c, 'rps'):.0f} | {med(b, 'rps'):.0f} ({route}) | "
                f"{med(c, 'rps') / max(med(b, 'rps'), 1e-9):.2f}x | {med(c, 'p50_ms'):.3f} | "
                f"{med(b, 'p50_ms'):.3f} | {med(c, 'p99_ms'):.3f} | {med(b, 'p99_ms'):.3f} | "
                f"{med(c, 'cpu_us'):.0f} | {med(b, 'cpu_us'):.0f} | {errs} |")
    add("")
    add("| scenario | what |")
    add("|---|---|")
    for name in results:
        add(f"| {label(name)} | {DESCRIPTIONS[name]} |")
    add("")
    add("| fact | value |")
    add("|---|---|")
    rows = [
        ("start-up to first answered request, empty store", facts.get("startup_empty_ms"), "ms"),
        ("start-up to first answered request, full store", facts.get("startup_full_ms"), "ms"),
        ("RSS at rest, empty store", facts.get("rss_rest_empty_kib"), "kib"),
        ("RSS at rest, after seeding", facts.get("rss_rest_seeded_kib"), "kib"),
        ("RSS peak (VmHWM) over the whole run", facts.get("rss_peak_kib"), "kib"),
        ("RSS at rest, after the load", facts.get("rss_rest_after_load_kib"), "kib"),
        ("RSS at rest, restarted on the full store", facts.get("rss_rest_restarted_kib"), "kib"),
        ("seeding messages (one conversation, "
         f"{facts['seed_conns']} connections)", facts.get("seed_messages_per_s"), "per_s"),
        ("store bytes per message (file growth over the seeding / messages)",
         facts.get("store_bytes_per_message"), "bytes"),
        ("store size at the end (after checkpoint)", facts.get("store_bytes_final"), "size"),
        ("rows at the end: messages / conversations",
         (facts.get("message_rows_final"), facts.get("conversation_rows_final")), "pair"),
        ("deep page", facts.get("deep_page"), "text"),
    ]
    for what, value, unit in rows:
        if value is None or value == (None, None):
            continue
        text = {
            "ms": lambda v: f"{v:.0f} ms",
            "kib": mib,
            "per_s": lambda v: f"{v:.0f} messages/s ({facts.get('seed_messages_s', 0):.0f} s)",
            "bytes": lambda v: f"{v:.0f} B",
            "size": lambda v: f"{v / 2**20:.0f} MiB",
            "pair": lambda v: f"{v[0]} / {v[1]}",
            "text": lambda v: f"`{v}`",
        }[unit](value)
        add(f"| {what} | {text} |")
    add("")
    add("Targets:")
    add("")
    for line in targets(facts, results):
        add(f"- {line}")
    add("")
    if errors:
        add("ERRORS (non-2xx answers; the run failed):")
        for what, n, first in errors:
            add(f"- {what}: {n}: {first}")
    else:
        add("Errors: none (every request of every run and of the seeding answered 2xx).")
    add("")
    return "\n".join(lines)


def targets(facts, results):
    def ratio(name, conns):
        runs = results.get(name, {}).get(conns)
        if not runs:
            return None
        return med(runs["confab"], "rps") / max(med(runs["baseline"], "rps"), 1e-9)

    def verdict(ok):
        return "MET" if ok else "NOT MET"

    # PostgreSQL's targets (docs/benchmark.md): its baseline inserts into the same database, and
    # a request of confab's takes a round trip or more to the database where the baseline's
    # takes one, so the write target is 0.8x and the p99 bound 20 ms.
    post_target, p99_bound = (0.8, 20) if PG else (1.0, 10)
    out = []
    for name in ("msg_post_one", "msg_post_spread", "msg_post_one@process",
                 "msg_post_spread@process"):
        for conns in (16, 64):
            r = ratio(name, conns)
            if r is None:
                continue
            if SCENARIOS[name][0] == "process":
                out.append(f"(not the target, which is measured with confab's defaults above) "
                           f"{name} at {conns} conns: {r:.2f}x the single-insert baseline")
            else:
                out.append(f"{name} at {conns} conns >= {post_target}x single-insert baseline: "
                           f"{r:.2f}x, {verdict(r >= post_target)}")
    for name in ("conv_fetch",):
        for conns in CONNS:
            r = ratio(name, conns)
            if r is not None:
                out.append(f"{name} at {conns} conns >= 0.7x parse-only baseline: {r:.2f}x, "
                           f"{verdict(r >= 0.7)}")
            r = ratio("conv_fetch@select", conns)
            if r is not None:
                out.append(f"(not a target) conv_fetch at {conns} conns: {r:.2f}x the select "
                           "baseline")
    for name, per in results.items():
        if 64 in per:
            p99 = med(per[64]["confab"], "p99_ms")
            out.append(f"{label(name)} p99 at 64 conns < {p99_bound} ms: {p99:.2f} ms, "
                       f"{verdict(p99 < p99_bound)}")
    for conns, d in results.get("msg_list_deep", {}).items():
        f = d.get("first_page")
        if f:
            cost = med(f, "rps") / max(med(d["confab"], "rps"), 1e-9)
            p50 = med(d["confab"], "p50_ms") / max(med(f, "p50_ms"), 1e-9)
            out.append(f"deep page at {conns} conns costs <= 1.5x the first page (measured run "
                       f"by run beside it: {med(d['confab'], 'rps'):.0f} vs "
                       f"{med(f, 'rps'):.0f} req/s, p50 {med(d['confab'], 'p50_ms'):.3f} vs "
                       f"{med(f, 'p50_ms'):.3f} ms): {cost:.2f}x by throughput, {p50:.2f}x "
                       f"by p50, {verdict(cost <= 1.5 and p50 <= 1.5)}")
    for small, big in (("conv_create@small", "conv_create@big"), ("pc_list@small", "pc_list@big")):
        if small in results and big in results:
            for conns in CONNS:
                s, b = results[small].get(conns), results[big].get(conns)
                if s and b:
                    # Ratios to the baseline of the same moment cancel the machine's drift.
                    rs = med(s["confab"], "rps") / max(med(s["baseline"], "rps"), 1e-9)
                    rb = med(b["confab"], "rps") / max(med(b["baseline"], "rps"), 1e-9)
                    out.append(f"{small.split('@')[0]} flat as the store grows ({label(small)} -> "
                               f"{label(big)}), at {conns} conns: "
                               f"{med(s['confab'], 'rps'):.0f} -> {med(b['confab'], 'rps'):.0f} req/s "
                               f"({rs:.2f}x -> {rb:.2f}x of baseline; {rb / rs:.2f} of the small "
                               f"store's ratio), {verdict(rb / rs >= 0.8)}")
    peak = facts.get("rss_peak_kib")
    if peak:
        out.append(f"RSS peak < 100 MB: {peak * 1024 / 1e6:.1f} MB, {verdict(peak * 1024 < 100e6)}")
    return out


def main():
    # A background run cannot be interrupted with ^C: SIGTERM stops the servers too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for path in (CONFAB, BASELINE, LOADGEN):
        if not os.path.exists(path):
            sys.exit(f"missing {path}: run bench/run.sh, which builds it")
    bench = Bench()
    try:
        status = bench.run()
    except BaseException:
        bench.stop()
        log(f"bench dir kept for inspection: {bench.dir}")
        raise
    if KEEP or status:
        log(f"bench dir kept: {bench.dir}")
    else:
        shutil.rmtree(bench.dir, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
