// Every kind of parameter the official Node SDK sends, against a running confab (CONFAB_URL):
// dotted names (`Timers.Inactive`, `NewMessage.Enabled`), repeated ones (`Filters`,
// `Participant`), booleans and dates as the SDK serializes them, the `X-Twilio-Webhook-Enabled`
// header, and pages followed by the SDK's own `nextPage()`. The Python suite covers the same
// resources; this checks that a second official SDK's encoding reaches them intact.
const test = require("node:test");
const assert = require("node:assert/strict");
const { newClient, advanceClock, eventually } = require("./client");

const FLOW = "FW0123456789abcdef0123456789abcdef";

test("dotted, JSON and date parameters of a conversation", async () => {
  const v1 = (await newClient()).conversations.v1;
  const created = new Date("2021-03-04T05:06:07Z");
  const conv = await v1.conversations.create({
    friendlyName: "dotted",
    state: "active", // timers need a state on create (50382)
    attributes: JSON.stringify({ topic: "billing" }),
    "timers.inactive": "PT5M",
    "timers.closed": "PT1H",
    "bindings.email.address": "team@example.com",
    "bindings.email.name": "Team",
    dateCreated: created,
    xTwilioWebhookEnabled: "true",
  });
  assert.equal(conv.state, "active");
  assert.deepEqual(Object.keys(conv.timers).sort(), ["date_closed", "date_inactive"]);
  assert.deepEqual(conv.bindings, { email: { address: "team@example.com", name: "Team" } });
  assert.deepEqual(JSON.parse(conv.attributes), { topic: "billing" });
  assert.ok(conv.dateCreated instanceof Date);
  assert.equal(conv.dateCreated.toISOString(), created.toISOString());

  const closed = await v1.conversations(conv.sid).update({ state: "closed", "timers.closed": "PT2H" });
  assert.equal(closed.state, "closed");
  assert.deepEqual(closed.timers, {});
});

test("ConversationWithParticipants takes a repeated Participant of JSON objects", async () => {
  const v1 = (await newClient()).conversations.v1;
  const conv = await v1.conversationWithParticipants.create({
    friendlyName: "with two",
    participant: [
      JSON.stringify({ identity: "ann" }),
      JSON.stringify({ identity: "bob", attributes: JSON.stringify({ role: "agent" }) }),
    ],
  });
  assert.match(conv.sid, /^CH[0-9a-f]{32}$/);
  const people = await v1.conversations(conv.sid).participants.list();
  assert.deepEqual(people.map((p) => p.identity), ["ann", "bob"]);
  assert.deepEqual(JSON.parse(people[1].attributes), { role: "agent" });
});

test("conversation webhooks: repeated filters and triggers, numbers, pages of two", async () => {
  const v1 = (await newClient()).conversations.v1;
  const conv = await v1.conversations.create({ friendlyName: "hooks" });
  const hooks = v1.conversations(conv.sid).webhooks;
  const webhook = await hooks.create({
    target: "webhook",
    "configuration.url": "https://example.com/hook",
    "configuration.method": "GET",
    "configuration.filters": ["onMessageAdded", "onParticipantAdded"],
  });
  assert.deepEqual(webhook.configuration, {
    url: "https://example.com/hook",
    method: "get",
    filters: ["onMessageAdded", "onParticipantAdded"],
  });
  const trigger = await hooks.create({
    target: "trigger",
    "configuration.url": "https://example.com/bot",
    "configuration.triggers": ["help", "agent"],
  });
  assert.deepEqual(trigger.configuration.triggers, ["help", "agent"]);
  const studio = await hooks.create({
    target: "studio",
    "configuration.flowSid": FLOW,
    "configuration.replayAfter": 3,
  });
  assert.deepEqual(studio.configuration, { flow_sid: FLOW, replay_after: 3 });

  // Three webhooks over two pages, followed with the SDK's own next-page call.
  const first = await hooks.page({ pageSize: 2 });
  assert.deepEqual(first.instances.map((w) => w.sid), [webhook.sid, trigger.sid]);
  const second = await first.nextPage();
  assert.deepEqual(second.instances.map((w) => w.sid), [studio.sid]);
  assert.equal(await second.nextPage(), undefined);

  const updated = await hooks(webhook.sid).update({ "configuration.filters": ["onConversationRemoved"] });
  assert.deepEqual(updated.configuration.filters, ["onConversationRemoved"]);
  const rejected = async (params, code) =>
    assert.rejects(hooks.create(params), (err) => err.status === 400 && err.code === code);
  await rejected({ target: "webhook", "configuration.url": "https://example.com" }, 50370); // no filters
  await rejected(
    { target: "webhook", "configuration.url": "https://example.com", "configuration.filters": ["onMessageAdded", "onMessageAdd"] },
    50365, // the second filter is not an event
  );
});

test("account and service configuration: dotted booleans and repeated filters", async () => {
  const v1 = (await newClient()).conversations.v1;
  const service = await v1.services.create({ friendlyName: "configured" });
  const notifications = await v1.services(service.sid).configuration.notifications().update({
    logEnabled: true,
    "newMessage.enabled": true,
    "newMessage.template": "${PARTICIPANT}: ${MESSAGE}",
    "newMessage.badgeCountEnabled": true,
    "newMessage.withMedia.enabled": true,
    "newMessage.withMedia.template": "${MEDIA_COUNT} files",
    "addedToConversation.enabled": false,
    "removedFromConversation.enabled": true,
    "removedFromConversation.sound": "bell",
  });
  assert.equal(notifications.logEnabled, true);
  const { enabled, template, badge_count_enabled, with_media } = notifications.newMessage;
  assert.deepEqual([enabled, template, badge_count_enabled], [true, "${PARTICIPANT}: ${MESSAGE}", true]);
  assert.deepEqual(with_media, { enabled: true, template: "${MEDIA_COUNT} files" });
  assert.equal(notifications.addedToConversation.enabled, false);
  assert.equal(notifications.removedFromConversation.sound, "bell");

  const hooks = await v1.configuration.webhooks().update({
    method: "GET",
    filters: ["onMessageAdded", "onConversationAdd"],
    preWebhookUrl: "https://example.com/pre",
    postWebhookUrl: "https://example.com/post",
    target: "webhook",
  });
  assert.deepEqual(hooks.filters, ["onMessageAdded", "onConversationAdd"]);
  assert.equal(hooks.method, "GET");
  assert.deepEqual((await v1.configuration.webhooks().fetch()).filters, hooks.filters);

  const config = await v1.configuration().update({ defaultInactiveTimer: "PT5M" });
  assert.equal(config.defaultInactiveTimer, "PT5M");
});

test("address configurations and credentials: dotted, repeated and boolean parameters", async () => {
  const v1 = (await newClient()).conversations.v1;
  const service = await v1.services.create({ friendlyName: "auto" });
  const address = await v1.addressConfigurations.create({
    type: "sms",
    address: "+15550001111",
    "autoCreation.enabled": true,
    "autoCreation.type": "webhook",
    "autoCreation.conversationServiceSid": service.sid,
    "autoCreation.webhookUrl": "https://example.com/auto",
    "autoCreation.webhookMethod": "post",
    "autoCreation.webhookFilters": ["onParticipantAdded", "onMessageAdded"],
  });
  assert.deepEqual(address.autoCreation, {
    enabled: true,
    type: "webhook",
    conversation_service_sid: service.sid,
    webhook_url: "https://example.com/auto",
    webhook_method: "POST",
    webhook_filters: ["onParticipantAdded", "onMessageAdded"],
  });
  // Fetched by the address itself, `+` and all, as the SDK puts it in the path.
  assert.equal((await v1.addressConfigurations("+15550001111").fetch()).sid, address.sid);
  assert.equal(await v1.addressConfigurations(address.sid).remove(), true);

  const credential = await v1.credentials.create({
    type: "apn",
    certificate: "-----BEGIN CERTIFICATE-----\nMIIF\n-----END CERTIFICATE-----",
    privateKey: "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
    sandbox: true,
  });
  assert.equal(credential.sandbox, "True");
  assert.ok(!JSON.stringify(credential.toJSON()).includes("BEGIN"));
  assert.equal((await v1.credentials(credential.sid).update({ sandbox: false })).sandbox, "False");
});

test("an SMS participant's binding, read horizons and receipts", async () => {
  const v1 = (await newClient()).conversations.v1;
  const conv = await v1.conversations.create({ friendlyName: "sms" });
  const sms = await v1.conversations(conv.sid).participants.create({
    "messagingBinding.address": "+15551119999",
    "messagingBinding.proxyAddress": "+15552228888",
  });
  assert.deepEqual(sms.messagingBinding, {
    type: "sms",
    address: "+15551119999",
    proxy_address: "+15552228888",
  });
  const reader = await v1.conversations(conv.sid).participants.create({ identity: "reader" });
  const message = await v1.conversations(conv.sid).messages.create({ author: "reader", body: "to a phone" });
  assert.equal(message.delivery.total, 1);
  assert.equal(message.participantSid, reader.sid);
  await v1.conversations(conv.sid).messages.create({ author: "reader", body: "again" });

  const found = await v1.participantConversations.list({ address: "+15551119999" });
  assert.deepEqual(found.map((c) => c.conversationSid), [conv.sid]);

  const horizon = await v1.conversations(conv.sid).participants(reader.sid).update({ lastReadMessageIndex: 0 });
  assert.equal(horizon.lastReadMessageIndex, 0);
  const mine = await v1.users("reader").userConversations(conv.sid).fetch();
  assert.equal(mine.unreadMessagesCount, 1);

  const receipts = v1.conversations(conv.sid).messages(message.sid).deliveryReceipts;
  await advanceClock("PT2S");
  await advanceClock("PT2S");
  const delivered = await eventually(() => receipts.list(), (rs) => rs.length === 1 && rs[0].status === "delivered");
  assert.equal(delivered[0].participantSid, sms.sid);
  assert.equal((await receipts(delivered[0].sid).fetch()).status, "delivered");
});
