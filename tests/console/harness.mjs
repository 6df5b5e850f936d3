// What the console tests share: a real confab (the built binary, --test-mode, a SQLite file of
// its own, a free port), a fresh account per test made through the API, the API itself to set
// things up and to check what the console did, and a real headless Chromium (Debian's
// `chromium`) driven by playwright-core.
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, "../..");
export const OPERATOR = { sid: "AC0123456789abcdef0123456789abcdef", token: "confab_dev_auth_token" };

/** A port nobody listens on (nor will: the socket that had it is closed at once). */
export function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/** Starts confab; `stop()` ends it and removes its store. */
export async function startConfab() {
  const bin = process.env.CONFAB_BIN || join(ROOT, "target/debug/confab");
  assert.ok(existsSync(bin), `no confab binary at ${bin}: cargo build first`);
  const dir = mkdtempSync(join(tmpdir(), "confab-console-"));
  const port = await freePort();
  const child = spawn(bin, ["serve", "--db", join(dir, "confab.db"), "--listen", `127.0.0.1:${port}`, "--test-mode"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (chunk) => {
    log = (log + chunk).slice(-20000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (child.exitCode !== null) assert.fail(`confab exited at start:\n${log}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) assert.fail(`confab did not answer /healthz:\n${log}`);
    await sleep(50);
  }
  return {
    url,
    log: () => log,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((ok) => (child.exitCode !== null ? ok() : child.once("exit", ok)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP proxy in front of confab that a test can cut (every open connection closed) and
 * close (new connections refused until reopened), and that notes the head of every request
 * that passes, so that a test can see what the browser sent (a `Last-Event-ID`). */
export async function startProxy(targetPort) {
  const sockets = new Set();
  const heads = [];
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) return client.destroy();
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    client.on("data", (chunk) => {
      const text = chunk.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (/^[A-Z]+ \//.test(text) && end > 0) heads.push(text.slice(0, end));
    });
    client.pipe(upstream).pipe(client);
    for (const s of [client, upstream]) {
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    heads,
    cut() {
      for (const s of sockets) s.destroy();
    },
    refuse(on) {
      refusing = on;
    },
    close: () => new Promise((ok) => {
      for (const s of sockets) s.destroy();
      server.close(ok);
    }),
  };
}

export function sleep(ms) {
  return new Promise((ok) => setTimeout(ok, ms));
}

/** The public API with Basic auth, as a test's own client. */
export class Client {
  constructor(url, sid, token) {
    this.url = url;
    this.sid = sid;
    this.token = token;
    this.auth = "Basic " + Buffer.from(`${sid}:${token}`).toString("base64");
  }

  async call(method, path, form, headers = {}) {
    const body = form ? new URLSearchParams(Object.entries(form).flatMap(([k, v]) => [].concat(v).map((x) => [k, x]))) : undefined;
    const res = await fetch(this.url + path, { method, headers: { Authorization: this.auth, ...headers }, body });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  }

  async get(path) {
    const { status, json } = await this.call("GET", path);
    assert.equal(status, 200, `GET ${path}: ${JSON.stringify(json)}`);
    return json;
  }

  async post(path, form, headers) {
    const { status, json } = await this.call("POST", path, form, headers);
    assert.ok(status === 200 || status === 201, `POST ${path}: ${status} ${JSON.stringify(json)}`);
    return json;
  }
}

/** A fresh account (made by the operator), and a client signed in as it. */
export async function newAccount(url) {
  const operator = new Client(url, OPERATOR.sid, OPERATOR.token);
  const account = await operator.post("/confab/Accounts", { FriendlyName: "console test" });
  return new Client(url, account.account_sid, account.auth_token);
}

/** Debian's chromium (CHROMIUM may name another build of it). */
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || which("chromium") || which("chromium-browser");
  assert.ok(executablePath, "no chromium: apt-get install -y chromium (.ci/run does)");
  return chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
}

function which(name) {
  try {
    return execFileSync("which", [name], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
}

/** A new tab at `viewport`, signed in to the console as `client`. */
export async function signedIn(browser, client, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(`${client.url}/console`);
  await page.getByLabel("Account SID").fill(client.sid);
  await page.getByLabel("Auth Token").fill(client.token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Sections", exact: true }).waitFor();
  return page;
}

/** Where screenshots go: CONSOLE_SCREENSHOTS (docs/console to refresh README's), else a temp
 * folder, so that a plain run leaves the work tree as it was. */
export function screenshotDir() {
  const dir = process.env.CONSOLE_SCREENSHOTS ? resolve(ROOT, process.env.CONSOLE_SCREENSHOTS) : join(tmpdir(), "confab-console-shots");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Every control on the page has an accessible name: a label, aria-label(ledby) or text. */
export async function unnamedControls(page) {
  return page.evaluate(() => {
    const named = (el) =>
      (el.labels && el.labels.length > 0) ||
      el.getAttribute("aria-label") ||
      el.getAttribute("aria-labelledby") ||
      (["BUTTON", "A", "SUMMARY"].includes(el.tagName) && el.textContent.trim());
    return [...document.querySelectorAll("input, select, textarea, button, a[href], summary")]
      .filter((el) => !named(el))
      .map((el) => el.outerHTML.slice(0, 120));
  });
}
