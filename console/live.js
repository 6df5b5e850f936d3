// Live updates: the account's event stream (GET /confab/Events, Server-Sent Events) read with
// fetch() so that it carries Basic auth, reconnecting with Last-Event-ID so that nothing made
// meanwhile is missed. A confab without the stream (404) is polled every 2 s instead.

import { SseParser } from "./sse.js";

const POLL_MS = 2000;
const RECONNECT_MS = 1000;

export class Live {
  /**
   * @param {import("./api.js").Api} api
   * @param {(event: {type: string, data: object|null, id: string}) => void} onEvent
   *   called for each event, and with `{type: "poll"}` on each tick when polling
   * @param {(mode: string) => void} onMode "connecting", "stream", "polling", "reconnecting"
   */
  constructor(api, onEvent, onMode) {
    this.api = api;
    this.onEvent = onEvent;
    this.onMode = onMode;
    this.lastEventId = "";
    this.retryMs = RECONNECT_MS;
    this.controller = new AbortController();
    this.timer = null;
  }

  start() {
    this.onMode("connecting");
    this.connect();
  }

  stop() {
    this.controller.abort();
    clearInterval(this.timer);
    clearTimeout(this.reconnectTimer);
  }

  async connect() {
    if (this.controller.signal.aborted) return;
    let response;
    try {
      response = await this.api.stream("/confab/Events", this.lastEventId, this.controller.signal);
    } catch {
      return this.reconnect();
    }
    if (response.status === 404) return this.poll();
    if (!response.ok || !response.body) return this.reconnect();
    this.onMode("stream");
    // What happened while no stream was open (the first connection, or a gap a reconnection
    // could not fill) is read by the pages themselves: tell them to look again.
    this.onEvent({ type: "connected", data: null, id: "" });
    const parser = new SseParser((event) => this.deliver(event));
    try {
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
      }
    } catch {
      // The connection broke: reconnect below.
    }
    this.lastEventId = parser.lastEventId || this.lastEventId;
    if (parser.retry !== null) this.retryMs = parser.retry;
    this.reconnect();
  }

  deliver(event) {
    this.lastEventId = event.id || this.lastEventId;
    let data = null;
    try {
      data = JSON.parse(event.data);
    } catch {
      data = { text: event.data };
    }
    this.onEvent({ type: event.type, data, id: event.id });
  }

  reconnect() {
    if (this.controller.signal.aborted) return;
    this.onMode("reconnecting");
    this.reconnectTimer = setTimeout(() => this.connect(), this.retryMs);
  }

  poll() {
    this.onMode("polling");
    this.timer = setInterval(() => this.onEvent({ type: "poll", data: null, id: "" }), POLL_MS);
  }
}
