// What the Node tests share: a fresh confab account per test, and the official client pointed
// at confab (CONFAB_URL) by changing only `client.conversations.baseUrl`, as README shows.
const assert = require("node:assert/strict");
const twilio = require("twilio");

const CONFAB_URL = process.env.CONFAB_URL;
const OPERATOR = ["AC0123456789abcdef0123456789abcdef", "confab_dev_auth_token"];

/** POSTs a form to one of confab's own routes (not Twilio's) with Basic auth. */
function confabPost(path, credentials, form) {
  const auth = Buffer.from(credentials.join(":")).toString("base64");
  return fetch(`${CONFAB_URL}${path}`, {
    method: "POST",
    headers: { Authorization: `Basic ${auth}`, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  });
}

/** A new account, and the official client signed in as it. */
async function newClient() {
  const res = await confabPost("/confab/Accounts", OPERATOR, { FriendlyName: "node" });
  assert.equal(res.status, 201);
  const account = await res.json();
  const client = twilio(account.account_sid, account.auth_token);
  client.conversations.baseUrl = CONFAB_URL;
  return client;
}

/** Moves the server's clock (it runs with --test-mode). */
async function advanceClock(duration) {
  const res = await confabPost("/confab/Clock", OPERATOR, { Advance: duration });
  assert.equal(res.status, 200);
}

/** Polls `read` until `predicate` holds of what it answers (timers and receipts move on a
 * worker, a moment after the clock). */
async function eventually(read, predicate, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (predicate(value)) return value;
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

module.exports = { newClient, advanceClock, eventually };
