// The web console in a real headless Chromium, against a real confab: each test signs in as an
// account of its own, does what a developer would do on a page, and checks through the API
// that it happened (or makes something through the API and watches the page show it).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { join } from "node:path";
import { Client, OPERATOR, freePort, launchBrowser, newAccount, screenshotDir, signedIn, sleep, startConfab, startProxy, unnamedControls } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await startConfab();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Polls the API until `predicate` holds of what `read` answers. */
async function eventually(read, predicate, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (predicate(value)) return value;
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${JSON.stringify(value).slice(0, 500)}`);
    await sleep(50);
  }
}

describe("signing in", () => {
  test("the account's SID and token open the console, kept in the tab's session storage only", async () => {
    const client = await newAccount(server.url);
    const page = await signedIn(browser, client);
    const stored = await page.evaluate(() => ({ session: { ...sessionStorage }, local: localStorage.length, cookie: document.cookie }));
    assert.match(JSON.stringify(stored.session), new RegExp(client.sid));
    assert.equal(stored.local, 0);
    assert.equal(stored.cookie, "");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await page.context().close();
  });

  test("a wrong token is refused, and the console stays signed out", async () => {
    const client = await newAccount(server.url);
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}/console`);
    await page.getByLabel("Account SID").fill(client.sid);
    await page.getByLabel("Auth Token").fill("not-the-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").getByText("These credentials were refused.").waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await page.context().close();
  });

  test("an API key SID and its secret open it too", async () => {
    const client = await newAccount(server.url);
    const key = await client.post(`/confab/Accounts/${client.sid}/Keys`, { FriendlyName: "console" });
    const page = await signedIn(browser, new Client(server.url, key.sid, key.secret));
    await page.getByText(client.sid).waitFor();
    await page.context().close();
  });
});

describe("conversations", () => {
  test("a conversation made through the API appears in the list without a reload", async () => {
    const client = await newAccount(server.url);
    const page = await signedIn(browser, client);
    await page.getByRole("table", { name: /Conversations/ }).waitFor();
    await page.evaluate(() => (window.notReloaded = true));
    const made = await client.post("/v1/Conversations", { FriendlyName: "made through the API", UniqueName: "api-made" });
    const row = page.getByRole("row").filter({ hasText: made.sid });
    await row.getByRole("link", { name: "made through the API" }).waitFor({ timeout: 10000 });
    await row.getByText("api-made").waitFor();
    assert.equal(await page.evaluate(() => window.notReloaded), true);
  });

  test("search by unique name and filter by state", async () => {
    const client = await newAccount(server.url);
    const open = await client.post("/v1/Conversations", { FriendlyName: "still open", UniqueName: "open-one" });
    const closed = await client.post("/v1/Conversations", { FriendlyName: "done", UniqueName: "closed-one" });
    await client.post(`/v1/Conversations/${closed.sid}`, { State: "closed" });
    const page = await signedIn(browser, client);
    await page.getByRole("link", { name: "done" }).waitFor();
    await page.getByLabel("Filter by state").selectOption("closed");
    await page.getByRole("link", { name: "still open" }).waitFor({ state: "detached" });
    await page.getByRole("link", { name: "done" }).waitFor();
    await page.getByLabel("Filter by state").selectOption("");
    await page.getByLabel("Search by SID or unique name").fill("open-one");
    await page.getByRole("link", { name: "done" }).waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Open conversation" }).click();
    await page.getByRole("heading", { name: "still open" }).waitFor();
    assert.ok(page.url().endsWith(`#/conversations/${open.sid}`));
    assert.notEqual(open.sid, closed.sid);
  });
});

describe("live updates", () => {
  test("the event stream, resumed with Last-Event-ID after the connection breaks; what was made meanwhile shows up", async () => {
    const client = await newAccount(server.url);
    const proxy = await startProxy(Number(new URL(server.url).port));
    const page = await signedIn(browser, new Client(proxy.url, client.sid, client.token));
    const status = page.getByRole("status").filter({ hasText: /^live|connecting|reconnecting/ });
    await status.filter({ hasText: /^live$/ }).waitFor({ timeout: 10000 });
    const first = await client.post("/v1/Conversations", { FriendlyName: "before the break" });
    await page.getByRole("link", { name: "before the break" }).waitFor({ timeout: 10000 });
    const streams = () => proxy.heads.filter((head) => head.startsWith("GET /confab/Events"));
    assert.equal(streams().length, 1);
    assert.doesNotMatch(streams()[0], /last-event-id/i, "the first connection starts from now");

    proxy.refuse(true);
    proxy.cut();
    await status.filter({ hasText: "reconnecting…" }).waitFor({ timeout: 10000 });
    const meanwhile = await client.post("/v1/Conversations", { FriendlyName: "made while disconnected" });
    proxy.refuse(false);
    await status.filter({ hasText: /^live$/ }).waitFor({ timeout: 10000 });
    await page.getByRole("link", { name: "made while disconnected" }).waitFor({ timeout: 10000 });
    const resumed = streams().at(-1);
    assert.match(resumed, /^last-event-id: \S+/im, "the reconnection says where it stopped");
    assert.notEqual(first.sid, meanwhile.sid);
    await page.context().close();
    await proxy.close();
  });
});

describe("one conversation", () => {
  test("a message posted from the page is there through the API, and one posted through the API shows up live", async () => {
    const client = await newAccount(server.url);
    const conv = await client.post("/v1/Conversations", { FriendlyName: "chat" });
    await client.post(`/v1/Conversations/${conv.sid}/Participants`, { Identity: "alice" });
    const page = await signedIn(browser, client);
    await page.goto(`${server.url}/console/#/conversations/${conv.sid}`);
    await page.getByRole("heading", { name: "chat" }).waitFor();
    await page.getByRole("textbox", { name: "Author" }).fill("alice");
    await page.getByRole("textbox", { name: "Message" }).fill("hello from the console");
    await page.getByRole("button", { name: "Send" }).click();
    const messages = await eventually(
      () => client.get(`/v1/Conversations/${conv.sid}/Messages`),
      (page) => page.messages.length === 1,
    );
    assert.equal(messages.messages[0].author, "alice");
    assert.equal(messages.messages[0].body, "hello from the console");

    await client.post(`/v1/Conversations/${conv.sid}/Messages`, { Author: "bob", Body: "and hello from the API" });
    await page.getByRole("log", { name: "Messages" }).getByText("and hello from the API").waitFor({ timeout: 10000 });
    await page.context().close();
  });

  test("participants with their bindings and read horizons; the state changed from the page", async () => {
    const client = await newAccount(server.url);
    const conv = await client.post("/v1/Conversations", { FriendlyName: "horizons" });
    const alice = await client.post(`/v1/Conversations/${conv.sid}/Participants`, { Identity: "alice" });
    await client.post(`/v1/Conversations/${conv.sid}/Participants`, {
      "MessagingBinding.Address": "+15550001111",
      "MessagingBinding.ProxyAddress": "+15559990000",
    });
    await client.post(`/v1/Conversations/${conv.sid}/Messages`, { Author: "alice", Body: "one" });
    await client.post(`/v1/Conversations/${conv.sid}/Participants/${alice.sid}`, { LastReadMessageIndex: 0 });
    const page = await signedIn(browser, client);
    await page.goto(`${server.url}/console/#/conversations/${conv.sid}`);
    const participants = page.getByRole("table", { name: /Participants/ });
    await participants.getByRole("row").filter({ hasText: "sms +15550001111 via +15559990000" }).waitFor();
    const aliceRow = participants.getByRole("row").filter({ hasText: alice.sid });
    assert.equal(await aliceRow.getByRole("cell").nth(2).locator(".horizon-index").textContent(), "0");
    await page.getByText("read up to here by alice").waitFor();

    await page.getByLabel("New state").selectOption("inactive");
    await page.getByRole("button", { name: "Change state" }).click();
    await eventually(() => client.get(`/v1/Conversations/${conv.sid}`), (c) => c.state === "inactive");
    await page.context().close();
  });
});

describe("the phone", () => {
  test("an inbound SMS sent from the phone page creates a conversation, and shows in the phone's thread", async () => {
    const client = await newAccount(server.url);
    await client.post("/v1/Configuration/Addresses", {
      Type: "sms",
      Address: "+15557654321",
      "AutoCreation.Enabled": "true",
    });
    const page = await signedIn(browser, client);
    await page.getByRole("link", { name: "Phone" }).click();
    await page.getByRole("textbox", { name: "From" }).fill("+15551234567");
    await page.getByRole("textbox", { name: "To" }).fill("+15557654321");
    await page.getByRole("textbox", { name: "Body" }).fill("my order is late");
    await page.getByRole("button", { name: "Send SMS" }).click();
    await Promise.race([
      page.getByText("Outcome: created").waitFor({ timeout: 10000 }),
      page.getByRole("alert").waitFor({ timeout: 10000 }).then(async () => assert.fail(await page.getByRole("alert").textContent())),
    ]);
    const conversations = await client.get("/v1/Conversations");
    assert.equal(conversations.conversations.length, 1);
    const sid = conversations.conversations[0].sid;
    const messages = await client.get(`/v1/Conversations/${sid}/Messages`);
    assert.equal(messages.messages[0].body, "my order is late");
    assert.equal(messages.messages[0].author, "+15551234567");

    // The reply goes out to the phone, and the thread shows both directions.
    await client.post(`/v1/Conversations/${sid}/Messages`, { Author: "agent", Body: "sorry, on its way" });
    const thread = page.getByRole("log", { name: "The phone's thread" });
    await thread.getByText("my order is late").waitFor({ timeout: 10000 });
    await thread.getByText("sorry, on its way").waitFor({ timeout: 10000 });
    await page.context().close();
  });
});

describe("webhooks", () => {
  test("a delivery to a closed port is in the log, found by its event and outcome, with its error", async () => {
    const client = await newAccount(server.url);
    const closed = await freePort();
    await client.post("/v1/Configuration/Webhooks", {
      PostWebhookUrl: `http://127.0.0.1:${closed}/hook`,
      Filters: "onConversationAdded",
      Target: "webhook",
    });
    const conv = await client.post("/v1/Conversations", { FriendlyName: "hooked" }, { "X-Twilio-Webhook-Enabled": "true" });
    await eventually(() => client.get("/confab/Webhooks/Deliveries"), (log) => log.deliveries.length > 0);
    const page = await signedIn(browser, client);
    await page.getByRole("link", { name: "Webhooks" }).click();
    await page.getByLabel("Event").selectOption("onConversationAdded");
    await page.getByLabel("Outcome").selectOption("retrying");
    // The first attempt (its retries, a second or two apart, carry another RetryCount).
    const attempt = page.locator("details.delivery").filter({ hasText: "onConversationAdded" }).filter({ hasText: "retry 0 ·" });
    await attempt.locator("summary").click();
    await attempt.getByText(`POST http://127.0.0.1:${closed}/hook`).waitFor();
    await attempt.getByRole("link", { name: conv.sid }).waitFor();
    await attempt.getByText("no answer").first().waitFor();
    const logged = (await client.get("/confab/Webhooks/Deliveries")).deliveries.at(-1);
    assert.ok(logged.error, "the log has the attempt's error");
    await attempt.getByText(logged.error).waitFor();
    // The request as the endpoint would have seen it: its parameters and its signature.
    const params = attempt.getByRole("table", { name: "Parameters" });
    await params.getByRole("row", { name: "EventType onConversationAdded" }).waitFor();
    await params.getByRole("row", { name: `ConversationSid ${conv.sid}` }).waitFor();
    await params.getByRole("row", { name: "RetryCount 0" }).waitFor();
    await attempt.getByText(logged.signature, { exact: true }).waitFor();
    await attempt.getByText("no answer came").waitFor();
    await page.getByLabel("Outcome").selectOption("delivered");
    await page.getByText("No delivery matches.").waitFor();
    await page.context().close();
  });
});

describe("outbound and receipts", () => {
  test("a message to an SMS participant is listed with its receipt, moved to failed from the page", async () => {
    const client = await newAccount(server.url);
    const conv = await client.post("/v1/Conversations", { FriendlyName: "sms" });
    await client.post(`/v1/Conversations/${conv.sid}/Participants`, {
      "MessagingBinding.Address": "+15550002222",
      "MessagingBinding.ProxyAddress": "+15559990000",
    });
    await client.post(`/v1/Conversations/${conv.sid}/Messages`, { Author: "agent", Body: "your code is 1234" });
    const outbound = await eventually(() => client.get("/confab/Outbound"), (o) => o.messages.length === 1);
    const receipt = outbound.messages[0].receipt_sid;
    const page = await signedIn(browser, client);
    await page.getByRole("link", { name: "Outbound" }).click();
    await page.getByRole("cell", { name: "your code is 1234" }).waitFor();
    await page.getByLabel(`New status for ${receipt}`).selectOption("failed");
    await page.getByLabel(`Error code for ${receipt}`).fill("30006");
    await page.getByRole("button", { name: `Move receipt ${receipt}` }).click();
    const moved = await eventually(() => client.get("/confab/Outbound"), (o) => o.messages[0].status === "failed");
    assert.equal(moved.messages[0].error_code, 30006);
    await page.getByRole("row").filter({ hasText: receipt }).getByText("error 30006").waitFor();
    await page.context().close();
  });
});

describe("the clock", () => {
  test("the operator moves it forward from the page; another account is told it may not", async () => {
    const operator = new Client(server.url, OPERATOR.sid, OPERATOR.token);
    const before = Date.parse((await operator.get("/confab/Clock")).now);
    const page = await signedIn(browser, operator);
    await page.getByRole("link", { name: "Clock" }).click();
    await page.getByRole("textbox", { name: "Advance by" }).fill("PT1H");
    await page.getByRole("button", { name: "Move clock forward" }).click();
    await page.getByText(/The clock now reads/).waitFor();
    const moved = Date.parse((await operator.get("/confab/Clock")).now);
    assert.ok(moved - before >= 3600 * 1000, `moved by ${moved - before} ms`);
    await page.context().close();

    const other = await signedIn(browser, await newAccount(server.url));
    await other.getByRole("link", { name: "Clock" }).click();
    await other.getByRole("button", { name: "Move clock forward" }).click();
    await other.getByRole("alert").getByText(/only the operator account may move the clock/).waitFor();
    await other.context().close();
  });
});

describe("every page", () => {
  test("every control has an accessible name, on a desktop and on a phone-sized screen, and screenshots of each", async () => {
    const client = await seeded();
    const shots = screenshotDir();
    for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
      const phone = viewport.width < 500;
      const page = await signedIn(browser, client, viewport);
      for (const [name, hash, ready] of pagesToVisit(client)) {
        await page.goto(`${server.url}/console/${hash}`);
        await ready(page);
        assert.deepEqual(await unnamedControls(page), [], `unnamed controls on ${name}`);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${name} scrolls sideways by ${overflow}px at ${viewport.width}px`);
        if (!phone || name === "conversation") {
          await page.screenshot({ path: join(shots, `${name}${phone ? "-phone" : ""}.png`) });
        }
      }
      await page.context().close();
    }
    const signIn = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await signIn.goto(`${server.url}/console`);
    await signIn.getByRole("button", { name: "Sign in" }).waitFor();
    assert.deepEqual(await unnamedControls(signIn), []);
    await signIn.screenshot({ path: join(shots, "sign-in.png") });
    await signIn.context().close();
  });
});

/** An account with something on every page: a customer who texted the account's number (the
 * conversation made by its Address Configuration), an agent who answered, a receipt moved, a
 * webhook that fails. */
async function seeded() {
  const client = await newAccount(server.url);
  const closed = await freePort();
  await client.post("/v1/Configuration/Webhooks", {
    PostWebhookUrl: `http://127.0.0.1:${closed}/hook`,
    Filters: ["onMessageAdded", "onConversationAdded"],
    Target: "webhook",
  });
  await client.post("/v1/Configuration/Addresses", { Type: "sms", Address: "+15557654321", "AutoCreation.Enabled": "true" });
  const texted = await client.post("/confab/Inbound", { From: "+15551234567", To: "+15557654321", Body: "Hi, my order has not arrived." });
  const sid = texted.conversation_sid;
  await client.post(`/v1/Conversations/${sid}`, { FriendlyName: "Order #1042", UniqueName: "order-1042" });
  await client.post("/v1/Conversations", { FriendlyName: "Returns", UniqueName: "returns-77" });
  const hooks = { "X-Twilio-Webhook-Enabled": "true" };
  const agent = await client.post(`/v1/Conversations/${sid}/Participants`, { Identity: "agent.kim" });
  await client.post(`/v1/Conversations/${sid}/Messages`, { Author: "agent.kim", Body: "Sorry! It ships today, tracking to follow." }, hooks);
  await client.post(`/v1/Conversations/${sid}/Participants/${agent.sid}`, { LastReadMessageIndex: 1 });
  await client.post("/confab/Inbound", { From: "+15551234567", To: "+15557654321", Body: "Thanks!" });
  const outbound = await eventually(() => client.get("/confab/Outbound"), (o) => o.messages.length > 0);
  await client.post(`/confab/Receipts/${outbound.messages[0].receipt_sid}`, { Status: "delivered" });
  await eventually(() => client.get("/confab/Webhooks/Deliveries"), (log) => log.deliveries.length >= 3);
  client.conversation = sid;
  return client;
}

function pagesToVisit(client) {
  const heading = (name) => (page) => page.getByRole("heading", { name, exact: true }).first().waitFor();
  return [
    ["conversations", "#/conversations", async (page) => page.getByRole("link", { name: "Order #1042" }).waitFor()],
    ["conversation", `#/conversations/${client.conversation}`, async (page) => {
      await page.getByText("Thanks!").waitFor();
      await page.getByRole("textbox", { name: "Author" }).fill("agent.kim");
    }],
    ["phone", "#/phone", async (page) => {
      await heading("Phone")(page);
      await page.getByRole("textbox", { name: "From" }).fill("+15551234567");
      await page.getByRole("textbox", { name: "From" }).dispatchEvent("change");
      await page.getByRole("log", { name: "The phone's thread" }).getByText("Thanks!").waitFor();
    }],
    ["webhooks", "#/webhooks", async (page) => page.locator("details.delivery summary").first().click()],
    ["outbound", "#/outbound", async (page) => page.getByRole("cell", { name: /Sorry! It ships today/ }).waitFor()],
    ["clock", "#/clock", heading("Clock")],
  ];
}
