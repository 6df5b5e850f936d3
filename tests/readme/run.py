#!/usr/bin/env python3
"""Runs every snippet of README.md against a real confab, as a reader would run it.

Each fenced block whose language is sh/bash/shell, python or js/javascript/node is saved to a
file and run; it must exit 0. New blocks are picked up by themselves. A block that must not run
here (the server command itself, the test runner, the benchmark) is marked by an HTML comment on
the line just before its fence, which GitHub does not show:

    <!-- readme-test: skip (the server command itself) -->

A block with no language (output, such as the banner) is not run. What the runner changes, and
only this: the server listens on a free port, so `127.0.0.1:8787` and `localhost:8787` in a
block are replaced with its address; shell blocks run under `bash -euo pipefail` with `curl`
failing on an HTTP error (`--fail-with-body`), so that a 4xx fails the block; Python blocks run
with the pinned official SDK's virtualenv (tests/sdk/python/.venv) and Node blocks as a file
(CommonJS) with the pinned official SDK's node_modules (tests/sdk/node), both made by
tests/sdk/setup.sh. Every block runs twice, so that a rerun must work as well (unique names).

    tests/readme/run.py [README.md ...]     CONFAB_BIN names the binary (default target/debug/confab)
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_PYTHON = os.path.join(ROOT, "tests/sdk/python/.venv/bin/python")
NODE_MODULES = os.path.join(ROOT, "tests/sdk/node/node_modules")
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\b.*-->")
FENCE = re.compile(r"^(\s*)```+\s*([A-Za-z0-9_+-]*)")
LANGUAGES = {
    "sh": "shell", "bash": "shell", "shell": "shell",
    "python": "python", "py": "python",
    "js": "node", "javascript": "node", "node": "node",
}
SHELL_PREAMBLE = 'curl() { command curl --silent --show-error --fail-with-body "$@"; echo; }\n'


def blocks(path):
    """(line number, language, text, skipped) of each fenced block of `path`."""
    lines = open(path, encoding="utf-8").read().split("\n")
    found, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        start, language = i, opening.group(2).lower()
        previous = next((l for l in reversed(lines[:start]) if l.strip()), "")
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        found.append((start + 1, language, "\n".join(body) + "\n", bool(SKIP.search(previous))))
    return found


def start_server(directory):
    binary = os.environ.get("CONFAB_BIN", os.path.join(ROOT, "target/debug/confab"))
    log = open(os.path.join(directory, "confab.log"), "w")
    server = subprocess.Popen(
        [binary, "serve", "--test-mode", "--listen", "127.0.0.1:0",
         "--db", os.path.join(directory, "confab.db")],
        stdout=subprocess.PIPE, stderr=log, text=True)
    first = server.stdout.readline()
    address = next(w for w in first.split() if w.startswith("http://"))[len("http://"):]
    # The rest of the banner is drained, so that the server never writes into a full pipe.
    server.stdout.close()
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://{address}/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    return server, address


def run_block(kind, text, directory, address):
    text = text.replace("127.0.0.1:8787", address).replace("localhost:8787", address)
    env = dict(os.environ)
    if kind == "shell":
        path = os.path.join(directory, "snippet.sh")
        open(path, "w").write(SHELL_PREAMBLE + text)
        command = ["bash", "-euo", "pipefail", path]
    elif kind == "python":
        path = os.path.join(directory, "snippet.py")
        open(path, "w").write(text)
        command = [VENV_PYTHON, path]
    else:
        path = os.path.join(directory, "snippet.js")
        open(path, "w").write(text)
        env["NODE_PATH"] = NODE_MODULES
        command = ["node", path]
    return subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True,
                          timeout=60)


def main():
    readmes = sys.argv[1:] or [os.path.join(ROOT, "README.md")]
    subprocess.run([os.path.join(ROOT, "tests/sdk/setup.sh")], check=True)
    directory = tempfile.mkdtemp(prefix="confab-readme-")
    server, address = start_server(directory)
    passed = failed = skipped = 0
    try:
        for readme in readmes:
            name = os.path.relpath(readme, ROOT)
            for line, language, text, skip in blocks(readme):
                kind = LANGUAGES.get(language)
                if kind is None:
                    continue
                if skip:
                    skipped += 1
                    print(f"skip  {name}:{line} ({language}, marked readme-test: skip)")
                    continue
                for attempt in ("first run", "rerun"):
                    result = run_block(kind, text, directory, address)
                    if result.returncode != 0:
                        break
                if result.returncode == 0:
                    passed += 1
                    print(f"ok    {name}:{line} ({language})")
                else:
                    failed += 1
                    print(f"FAIL  {name}:{line} ({language}, {attempt}, exit {result.returncode})")
                    print(text)
                    print(result.stdout[-2000:])
                    print(result.stderr[-2000:])
    finally:
        server.terminate()
        server.wait(timeout=30)
        if failed:
            print(open(os.path.join(directory, "confab.log")).read()[-3000:])
        shutil.rmtree(directory, ignore_errors=True)
    print(f"README snippets: {passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
