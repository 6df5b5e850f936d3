// The console's Server-Sent Events parser (console/sse.js), fed the way a network delivers a
// stream: in chunks cut anywhere.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SseParser } from "../../console/sse.js";

function parse(chunks) {
  const events = [];
  const parser = new SseParser((e) => events.push(e));
  for (const chunk of chunks) parser.push(chunk);
  return { events, parser };
}

test("events with a name, an id and JSON data; heartbeats are ignored", () => {
  const { events, parser } = parse([
    ": heartbeat\n\n",
    'id: 7\nevent: onMessageAdded\ndata: {"ConversationSid":"CH1"}\n\n',
  ]);
  assert.deepEqual(events, [{ type: "onMessageAdded", data: '{"ConversationSid":"CH1"}', id: "7" }]);
  assert.equal(parser.lastEventId, "7");
});

test("a stream cut in the middle of lines, and of a CRLF, gives the same events", () => {
  const text = "id: 1\r\nevent: a\r\ndata: x\r\n\r\nid: 2\r\ndata: y\r\ndata: z\r\n\r\n";
  const whole = parse([text]).events;
  for (let cut = 1; cut < text.length; cut++) {
    assert.deepEqual(parse([text.slice(0, cut), text.slice(cut)]).events, whole, `cut at ${cut}`);
  }
  assert.deepEqual(whole, [
    { type: "a", data: "x", id: "1" },
    { type: "message", data: "y\nz", id: "2" },
  ]);
});

test("the id is kept across events, retry is read, an event without data is not dispatched", () => {
  const { events, parser } = parse(["id: 5\nevent: nothing\n\nretry: 2500\ndata:no space\n\n"]);
  assert.deepEqual(events, [{ type: "message", data: "no space", id: "5" }]);
  assert.equal(parser.retry, 2500);
});
