// The official twilio Node SDK against a running confab (CONFAB_URL): the everyday calls.
// parameters.test.js sends every kind of parameter the SDK serializes.
const test = require("node:test");
const assert = require("node:assert/strict");
const { newClient } = require("./client");

test("conversations, participants and messages through the Node SDK", async () => {
  const client = await newClient();
  const v1 = client.conversations.v1;
  const conv = await v1.conversations.create({ friendlyName: "support", uniqueName: "node-42" });
  assert.match(conv.sid, /^CH[0-9a-f]{32}$/);
  assert.equal((await v1.conversations("node-42").fetch()).sid, conv.sid);

  const alice = await v1.conversations(conv.sid).participants.create({ identity: "alice" });
  assert.equal(alice.identity, "alice");
  for (let i = 0; i < 7; i++) {
    await v1.conversations(conv.sid).messages.create({ author: "alice", body: `hi ${i}` });
  }
  const messages = await v1.conversations(conv.sid).messages.list({ pageSize: 3 });
  assert.deepEqual(messages.map((m) => m.index), [0, 1, 2, 3, 4, 5, 6]);
  assert.equal(messages[0].participantSid, alice.sid);

  const updated = await v1.conversations(conv.sid).update({ friendlyName: "renamed" });
  assert.equal(updated.friendlyName, "renamed");
  assert.equal(await v1.conversations(conv.sid).remove(), true);
});

test("errors carry Twilio's code and status", async () => {
  const client = await newClient();
  const v1 = client.conversations.v1;
  await v1.conversations.create({ uniqueName: "dup" });
  await assert.rejects(v1.conversations.create({ uniqueName: "dup" }), (err) => {
    assert.equal(err.status, 409);
    assert.equal(err.code, 50353);
    return true;
  });
  await assert.rejects(v1.conversations("CH00000000000000000000000000000000").fetch(), (err) => err.status === 404 && err.code === 20404);
});

test("users, roles and services", async () => {
  const client = await newClient();
  const v1 = client.conversations.v1;
  const service = await v1.services.create({ friendlyName: "node service" });
  const role = await v1.services(service.sid).roles.create({
    friendlyName: "helper",
    type: "conversation",
    permission: ["sendMessage", "leaveConversation"],
  });
  assert.deepEqual(role.permissions, ["sendMessage", "leaveConversation"]);
  const user = await v1.services(service.sid).users.create({ identity: "node@example.com" });
  assert.equal((await v1.services(service.sid).users("node@example.com").fetch()).sid, user.sid);
  await v1.services(service.sid).users.create({ identity: "second" });
  const users = await v1.services(service.sid).users.list({ pageSize: 1 });
  assert.deepEqual(users.map((u) => u.identity), ["node@example.com", "second"]);
});
