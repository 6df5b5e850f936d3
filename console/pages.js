// The console's pages. Each keeps its forms and rebuilds only its lists when the data changes,
// so that a live update never takes away what the user is typing.

import { ApiError } from "./api.js";
import { badge, code, field, h, input, link, notice, select, table, when } from "./views.js";

const STATES = ["active", "inactive", "closed"];
const RECEIPT_STATUSES = ["delivered", "read", "failed", "undelivered", "sent"];
const OUTCOMES = ["delivered", "retrying", "gave_up", "not_delivered", "rejected", "fail_open"];

/** What every page shares: a root element, a notice region, and serialized refreshes. */
class Page {
  constructor(ctx, title) {
    this.ctx = ctx;
    this.notices = h("div", { class: "notices", "aria-live": "polite" });
    this.el = h("section", { class: "page", "aria-labelledby": "page-title" });
    this.title = h("h1", { id: "page-title", tabindex: "-1" }, title);
    this.loading = null;
    this.dirty = false;
  }

  /** Reloads the page's data; a refresh asked for during one runs once after it. */
  async refresh() {
    if (this.loading) {
      this.dirty = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.dirty = false;
        try {
          await this.load();
        } catch (e) {
          this.fail(e);
        }
      } while (this.dirty);
    })();
    try {
      await this.loading;
    } finally {
      this.loading = null;
    }
  }

  /** Whether an event (or a poll's tick) may have changed what this page shows. */
  wants(_event) {
    return true;
  }

  fail(e) {
    if (e && e.name === "AbortError") return;
    if (e instanceof ApiError && e.status === 401) return this.ctx.signOut("Your credentials were refused.");
    notice(this.notices, e instanceof ApiError ? e.message : String(e), "error");
  }

  say(message) {
    notice(this.notices, message, "info");
  }

  /** Runs a user's action: its error shown on the page, the page refreshed after. */
  async act(button, action) {
    button.disabled = true;
    try {
      await action();
      await this.refresh();
    } catch (e) {
      this.fail(e);
    } finally {
      button.disabled = false;
    }
  }

  destroy() {}
}

// ---------------------------------------------------------------------------------------------
// Conversations: the live list

export class ConversationsPage extends Page {
  constructor(ctx) {
    super(ctx, "Conversations");
    this.details = new Map();
    this.pageUrl = null;
    this.search = input({ type: "search", placeholder: "CH… or unique name", oninput: () => this.render() });
    this.stateFilter = select([["", "All states"], ...STATES], { onchange: () => this.restart() });
    const open = h("button", { type: "submit" }, "Open conversation");
    const searchForm = h(
      "form",
      { class: "toolbar", role: "search", "aria-label": "Find a conversation", onsubmit: (e) => this.open(e, open) },
      field("Search by SID or unique name", this.search),
      field("Filter by state", this.stateFilter),
      open,
    );
    this.friendlyName = input();
    this.uniqueName = input();
    const create = h("button", { type: "submit" }, "Create conversation");
    const createForm = h(
      "form",
      { class: "toolbar", "aria-label": "New conversation", onsubmit: (e) => this.create(e, create) },
      field("Friendly name", this.friendlyName),
      field("Unique name", this.uniqueName),
      create,
    );
    this.list = h("div", { class: "list" });
    this.pager = h("nav", { class: "pager", "aria-label": "Pages of conversations" });
    this.el.append(this.title, this.notices, searchForm, this.list, this.pager, h("details", { class: "more" },
      h("summary", {}, "New conversation"), createForm));
  }

  restart() {
    this.pageUrl = null;
    this.refresh();
  }

  wants(event) {
    if (event.type === "tick") return false;
    const sid = event.data && event.data.ConversationSid;
    if (sid) this.details.delete(sid);
    else this.details.clear();
    return true;
  }

  async load() {
    const base = `${this.ctx.prefix()}/Conversations`;
    const page = this.pageUrl
      ? await this.ctx.api.get(this.pageUrl)
      : await this.ctx.api.get(base, { State: this.stateFilter.value, PageSize: 50 });
    this.page = page;
    await Promise.all(page.conversations.map((c) => this.loadDetails(c)));
    this.render();
  }

  /** Last activity and unread count: its newest message, and its participants' horizons. */
  async loadDetails(conversation) {
    const known = this.details.get(conversation.sid);
    if (known && known.updated === conversation.date_updated) return;
    const at = `${this.ctx.prefix()}/Conversations/${conversation.sid}`;
    const [messages, participants] = await Promise.all([
      this.ctx.api.get(`${at}/Messages`, { Order: "desc", PageSize: 1 }),
      this.ctx.api.get(`${at}/Participants`, { PageSize: 100 }),
    ]);
    const last = messages.messages[0];
    this.details.set(conversation.sid, {
      updated: conversation.date_updated,
      lastActivity: latest(conversation.date_updated, last && last.date_created),
      unread: unread(last ? last.index : -1, participants.participants),
      participants: participants.participants.length,
    });
  }

  render() {
    if (!this.page) return;
    const term = this.search.value.trim().toLowerCase();
    const rows = this.page.conversations.filter(
      (c) => !term || c.sid.toLowerCase().includes(term) || (c.unique_name || "").toLowerCase().includes(term),
    );
    const details = (c) => this.details.get(c.sid) || {};
    this.list.replaceChildren(
      table(
        "Conversations (unread: messages past the read horizon of the chat participant furthest behind)",
        [
          { title: "Friendly name", cell: (c) => link(`#/conversations/${c.sid}`, c.friendly_name || c.sid) },
          { title: "Unique name", cell: (c) => c.unique_name || h("span", { class: "muted" }, "—") },
          { title: "SID", cell: (c) => code(c.sid) },
          { title: "State", cell: (c) => badge(c.state) },
          { title: "Last activity", cell: (c) => when(details(c).lastActivity) },
          { title: "Unread", cell: (c) => String(details(c).unread ?? "—") },
          { title: "Participants", cell: (c) => String(details(c).participants ?? "—") },
        ],
        rows,
        term ? "No conversation on this page matches." : "No conversations yet.",
      ),
    );
    this.renderPager();
  }

  renderPager() {
    const meta = this.page.meta;
    const go = (url) => () => {
      this.pageUrl = url;
      this.refresh();
    };
    this.pager.replaceChildren(
      meta.previous_page_url ? h("button", { type: "button", onclick: go(meta.previous_page_url) }, "Previous page") : "",
      meta.next_page_url ? h("button", { type: "button", onclick: go(meta.next_page_url) }, "Next page") : "",
    );
  }

  async open(e, button) {
    e.preventDefault();
    const wanted = this.search.value.trim();
    if (!wanted) return;
    await this.act(button, async () => {
      const conversation = await this.ctx.api.get(`${this.ctx.prefix()}/Conversations/${encodeURIComponent(wanted)}`);
      this.ctx.navigate(`#/conversations/${conversation.sid}`);
    });
  }

  async create(e, button) {
    e.preventDefault();
    await this.act(button, async () => {
      const made = await this.ctx.api.post(`${this.ctx.prefix()}/Conversations`, {
        FriendlyName: this.friendlyName.value || undefined,
        UniqueName: this.uniqueName.value || undefined,
      });
      this.friendlyName.value = "";
      this.uniqueName.value = "";
      this.say(`Created ${made.sid}.`);
    });
  }
}

function latest(...dates) {
  return dates.filter(Boolean).sort().at(-1) || null;
}

/** Messages the chat participant furthest behind has not read (none without chat members). */
function unread(lastIndex, participants) {
  const chat = participants.filter((p) => p.identity);
  if (chat.length === 0 || lastIndex < 0) return chat.length ? 0 : null;
  const lowest = Math.min(...chat.map((p) => p.last_read_message_index ?? -1));
  return Math.max(0, lastIndex - lowest);
}

// ---------------------------------------------------------------------------------------------
// One conversation

export class ConversationPage extends Page {
  constructor(ctx, sid) {
    super(ctx, sid);
    this.sid = sid;
    this.summary = h("div", { class: "summary" });
    this.newState = select(STATES);
    const change = h("button", { type: "submit" }, "Change state");
    const stateForm = h(
      "form",
      { class: "toolbar", "aria-label": "Change state", onsubmit: (e) => this.changeState(e, change) },
      field("New state", this.newState),
      change,
    );
    this.messages = h("ol", { class: "messages", role: "log", "aria-label": "Messages" });
    this.author = input({ required: true, value: ctx.lastAuthor || "" });
    this.body = input({ required: true });
    this.webhooks = h("input", { type: "checkbox", checked: true });
    const send = h("button", { type: "submit" }, "Send");
    const postForm = h(
      "form",
      { class: "composer", "aria-label": "Post a message", onsubmit: (e) => this.post(e, send) },
      field("Author", this.author),
      field("Message", this.body),
      h("label", { class: "check" }, this.webhooks, " Fire webhooks (X-Twilio-Webhook-Enabled)"),
      send,
    );
    this.participants = h("div", { class: "list" });
    this.identity = input({ required: true });
    const add = h("button", { type: "submit" }, "Add participant");
    const addForm = h(
      "form",
      { class: "toolbar", "aria-label": "Add a chat participant", onsubmit: (e) => this.addParticipant(e, add) },
      field("Identity", this.identity),
      add,
    );
    this.el.append(
      h("p", {}, link("#/conversations", "← All conversations")),
      this.title,
      this.notices,
      this.summary,
      stateForm,
      h("div", { class: "columns" },
        h("section", { "aria-labelledby": "messages-title", class: "column" },
          h("h2", { id: "messages-title" }, "Messages"), this.messages, postForm),
        h("section", { "aria-labelledby": "participants-title", class: "column" },
          h("h2", { id: "participants-title" }, "Participants"), this.participants, addForm)),
    );
  }

  base() {
    return `${this.ctx.prefix()}/Conversations/${this.sid}`;
  }

  wants(event) {
    if (event.type === "tick") return false;
    const sid = event.data && event.data.ConversationSid;
    return !sid || sid === this.sid;
  }

  async load() {
    const [conversation, messages, participants] = await Promise.all([
      this.ctx.api.get(this.base()),
      this.ctx.api.get(`${this.base()}/Messages`, { Order: "desc", PageSize: 100 }),
      this.ctx.api.get(`${this.base()}/Participants`, { PageSize: 100 }),
    ]);
    this.conversation = conversation;
    this.title.textContent = conversation.friendly_name || conversation.sid;
    this.renderSummary(conversation);
    this.renderMessages(messages.messages.reverse(), participants.participants);
    this.renderParticipants(participants.participants, messages.messages.at(-1));
  }

  renderSummary(c) {
    const row = (term, value) => h("div", {}, h("dt", {}, term), h("dd", {}, value));
    this.summary.replaceChildren(
      h("dl", { class: "facts inline" },
        row("SID", code(c.sid)),
        row("Unique name", c.unique_name || "—"),
        row("State", badge(c.state)),
        row("Created", when(c.date_created)),
        row("Updated", when(c.date_updated)),
        row("Becomes inactive", when(c.timers && c.timers.date_inactive)),
        row("Closes", when(c.timers && c.timers.date_closed)),
        row("Service", code(c.chat_service_sid)),
        row("Attributes", code(c.attributes)),
      ),
    );
    if (document.activeElement !== this.newState) this.newState.value = c.state;
  }

  renderMessages(messages, participants) {
    const atBottom = this.messages.scrollHeight - this.messages.scrollTop - this.messages.clientHeight < 40;
    const readers = (index) => participants.filter((p) => p.last_read_message_index === index).map(name);
    this.messages.replaceChildren(
      ...(messages.length ? messages.map((m) => {
        const read = readers(m.index);
        return h("li", { class: "message", dataset: { index: m.index } },
          h("div", { class: "meta" },
            h("strong", {}, m.author), " ", h("span", { class: "muted" }, `#${m.index}`), " ", when(m.date_created),
            m.delivery ? [" ", badge(deliverySummary(m.delivery), "delivery")] : ""),
          h("p", { class: "body" }, m.body ?? ""),
          m.media && m.media.length ? h("p", { class: "muted" }, `${m.media.length} media: `,
            m.media.map((x) => x.filename || x.sid).join(", ")) : "",
          read.length ? h("p", { class: "horizon" }, `read up to here by ${read.join(", ")}`) : "");
      }) : [h("li", { class: "empty" }, "No messages yet.")]),
    );
    if (atBottom) this.messages.scrollTop = this.messages.scrollHeight;
  }

  renderParticipants(participants, newest) {
    const lastIndex = newest ? newest.index : null;
    this.participants.replaceChildren(
      table(
        "Participants, with their bindings and read horizons",
        [
          { title: "Participant", cell: (p) => [name(p), h("br"), h("small", {}, code(p.sid))] },
          { title: "Binding", cell: (p) => binding(p.messaging_binding) },
          {
            title: "Read horizon",
            cell: (p) => [h("span", { class: "horizon-index" }, `${p.last_read_message_index ?? "none"}`),
              p.last_read_timestamp ? [h("br"), h("small", {}, when(p.last_read_timestamp))] : ""],
          },
          {
            title: "Actions",
            cell: (p) => lastIndex === null || !p.identity ? "" : h("button", {
              type: "button",
              "aria-label": `Mark read for ${name(p)}`,
              onclick: (e) => this.act(e.currentTarget, () =>
                this.ctx.api.post(`${this.base()}/Participants/${p.sid}`, { LastReadMessageIndex: lastIndex })),
            }, "Mark read"),
          },
        ],
        participants,
        "No participants yet.",
      ),
    );
  }

  async changeState(e, button) {
    e.preventDefault();
    await this.act(button, () => this.ctx.api.post(this.base(), { State: this.newState.value }, this.webhookHeader()));
  }

  async post(e, button) {
    e.preventDefault();
    await this.act(button, async () => {
      await this.ctx.api.post(`${this.base()}/Messages`, { Author: this.author.value, Body: this.body.value },
        this.webhookHeader());
      this.ctx.lastAuthor = this.author.value;
      this.body.value = "";
      this.body.focus();
    });
  }

  async addParticipant(e, button) {
    e.preventDefault();
    await this.act(button, async () => {
      await this.ctx.api.post(`${this.base()}/Participants`, { Identity: this.identity.value }, this.webhookHeader());
      this.identity.value = "";
    });
  }

  /** REST writes fire webhooks only when asked to, as on Twilio. */
  webhookHeader() {
    return this.webhooks.checked ? { "X-Twilio-Webhook-Enabled": "true" } : {};
  }
}

function name(p) {
  if (p.identity) return p.identity;
  const b = p.messaging_binding;
  return (b && (b.address || b.projected_address)) || p.sid;
}

function binding(b) {
  if (!b) return h("span", { class: "muted" }, "chat");
  const parts = [b.type, b.address, b.proxy_address && `via ${b.proxy_address}`, b.projected_address &&
    `as ${b.projected_address}`];
  return parts.filter(Boolean).join(" ");
}

function deliverySummary(d) {
  const counts = ["sent", "delivered", "read", "failed", "undelivered"].filter((k) => d[k] && d[k] !== "none");
  return counts.length ? counts.map((k) => `${k}: ${d[k]}`).join(", ") : `receipts: ${d.total}`;
}

// ---------------------------------------------------------------------------------------------
// A phone: inbound SMS or WhatsApp, and the phone's thread

export class PhonePage extends Page {
  constructor(ctx) {
    super(ctx, "Phone");
    this.channel = select([["sms", "SMS"], ["whatsapp", "WhatsApp"]], { onchange: () => this.relabel() });
    this.from = input({ required: true, placeholder: "+15551234567", value: ctx.phone || "" });
    this.to = input({ required: true, placeholder: "+15557654321" });
    this.body = input({ required: true });
    this.media = input({ type: "url", placeholder: "https://…" });
    this.numbers = h("p", { class: "numbers" });
    this.send = h("button", { type: "submit" }, "Send SMS");
    const form = h(
      "form",
      { class: "composer stacked", "aria-label": "Text the account from a phone", onsubmit: (e) => this.text(e) },
      field("Channel", this.channel),
      field("From", this.from, "the phone"),
      field("To", this.to, "the account's number or WhatsApp sender (its Address Configurations)"),
      field("Body", this.body),
      field("Media URL", this.media, "optional: fetched by confab"),
      this.send,
    );
    this.result = h("div", { class: "result", role: "status" });
    this.thread = h("ol", { class: "messages thread", role: "log", "aria-label": "The phone's thread" });
    this.threadTitle = h("h2", { id: "thread-title" }, "Thread");
    this.from.addEventListener("change", () => this.refresh());
    this.el.append(this.title, this.notices, h("div", { class: "phone-layout" },
      h("div", {}, form, this.numbers, this.result),
      h("section", { "aria-labelledby": "thread-title" }, this.threadTitle, this.thread)));
  }

  /** The account's numbers (its Address Configurations), each a button that fills To. */
  showNumbers(configurations) {
    if (configurations.length === 0) {
      this.numbers.replaceChildren("This account has no Address Configuration yet: texts to it are ignored.");
      return;
    }
    this.numbers.replaceChildren("This account's numbers: ", ...configurations.map((a) =>
      h("button", { type: "button", "aria-label": `Text ${a.address}`, onclick: () => {
        this.to.value = a.address.replace(/^whatsapp:/, "");
        if (a.type === "whatsapp") this.channel.value = "whatsapp";
        this.relabel();
      } }, a.address)));
  }

  relabel() {
    this.send.textContent = this.channel.value === "whatsapp" ? "Send WhatsApp" : "Send SMS";
  }

  /** The address as the channel writes it: WhatsApp's carry the `whatsapp:` prefix. */
  address(value) {
    const bare = value.trim().replace(/^whatsapp:/, "");
    return this.channel.value === "whatsapp" ? `whatsapp:${bare}` : bare;
  }

  async load() {
    const addresses = await this.ctx.api.get("/v1/Configuration/Addresses", { PageSize: 50 }).catch(() => null);
    if (addresses) this.showNumbers(addresses.address_configurations);
    const phone = this.from.value.trim() ? this.address(this.from.value) : "";
    this.ctx.phone = this.from.value.trim();
    if (!phone) {
      this.threadTitle.textContent = "Thread";
      this.thread.replaceChildren(h("li", { class: "empty" }, "Type a phone number in From to see its thread."));
      return;
    }
    this.threadTitle.textContent = `Thread of ${phone}`;
    const page = await this.ctx.api.get("/confab/Outbound", { Address: phone, PageSize: 100 });
    // Oldest first, both directions; filtered here too, in case this confab ignores `Address`.
    const rows = (page.messages || []).filter((m) => m.from === phone || m.to === phone);
    rows.sort((a, b) => (a.date_created < b.date_created ? -1 : a.date_created > b.date_created ? 1 : 0));
    this.thread.replaceChildren(
      ...(rows.length ? rows.map((m) => threadItem(m, phone)) : [h("li", { class: "empty" }, "Nothing sent or received yet.")]),
    );
  }

  async text(e) {
    e.preventDefault();
    await this.act(this.send, async () => {
      const form = { From: this.address(this.from.value), To: this.address(this.to.value), Body: this.body.value };
      if (this.media.value) Object.assign(form, { NumMedia: 1, MediaUrl0: this.media.value });
      let answer;
      try {
        answer = await this.ctx.api.post("/confab/Inbound", form);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404 && !err.body?.code) {
          throw new Error("This confab has no inbound route (POST /confab/Inbound).");
        }
        throw err;
      }
      this.body.value = "";
      this.showResult(answer);
    });
  }

  showResult(answer) {
    const conversation = answer.conversation_sid;
    this.result.replaceChildren(
      h("p", { class: "notice notice-info" }, "Outcome: ", badge(answer.outcome),
        conversation ? [" in ", link(`#/conversations/${conversation}`, conversation)] : "",
        answer.message_sid ? [", message ", code(answer.message_sid)] : "",
        answer.participant_sid ? [", participant ", code(answer.participant_sid)] : ""),
    );
  }
}

function threadItem(m, phone) {
  const inbound = m.direction ? m.direction === "inbound" : m.from === phone;
  return h("li", { class: `message ${inbound ? "from-phone" : "to-phone"}` },
    h("div", { class: "meta" },
      h("strong", {}, inbound ? `${m.from} →` : `→ ${m.to}`), " ", when(m.date_created), " ",
      m.outcome ? badge(m.outcome) : "", m.status ? badge(m.status) : "",
      m.conversation_sid ? [" ", link(`#/conversations/${m.conversation_sid}`, m.conversation_sid)] : ""),
    h("p", { class: "body" }, m.body ?? ""),
    m.error_code ? h("p", { class: "muted" }, `error ${m.error_code}`) : "");
}

// ---------------------------------------------------------------------------------------------
// Webhooks: the delivery log, and the account's webhook targets

export class WebhooksPage extends Page {
  constructor(ctx) {
    super(ctx, "Webhooks");
    this.event = select([["", "All events"]], { onchange: () => this.refresh() });
    this.outcome = select([["", "All outcomes"], ...OUTCOMES], { onchange: () => this.refresh() });
    // The events the log has shown so far: the choices of the event filter.
    this.seenEvents = new Set();
    const filters = h("form", { class: "toolbar", "aria-label": "Filter deliveries", onsubmit: (e) => e.preventDefault() },
      field("Event", this.event), field("Outcome", this.outcome));
    this.log = h("div", { class: "deliveries" });
    this.postUrl = input({ type: "url" });
    this.preUrl = input({ type: "url" });
    this.method = select(["POST", "GET"]);
    this.filters = input({ placeholder: "onMessageAdded, onConversationAdded" });
    const save = h("button", { type: "submit" }, "Save webhooks");
    const config = h("form", { class: "toolbar", "aria-label": "Account webhooks", onsubmit: (e) => this.save(e, save) },
      field("Post-action URL", this.postUrl), field("Pre-action URL", this.preUrl), field("Method", this.method),
      field("Filters", this.filters, "event names, separated by commas"), save);
    this.el.append(this.title, this.notices, filters, this.log,
      h("details", { class: "more" }, h("summary", {}, "The account's webhook targets"), config));
  }

  async load() {
    const log = "/confab/Webhooks/Deliveries";
    const filtered = this.event.value || this.outcome.value;
    const [page, matching, config] = await Promise.all([
      this.ctx.api.get(log, { PageSize: 100 }),
      filtered ? this.ctx.api.get(log, { EventType: this.event.value, Outcome: this.outcome.value, PageSize: 100 }) : null,
      this.configLoaded ? null : this.ctx.api.get("/v1/Configuration/Webhooks").catch(() => null),
    ]);
    if (config) {
      this.configLoaded = true;
      this.postUrl.value = config.post_webhook_url || "";
      this.preUrl.value = config.pre_webhook_url || "";
      this.method.value = config.method || "POST";
      this.filters.value = (config.filters || []).join(", ");
    }
    this.deliveries = (matching || page).deliveries;
    for (const d of page.deliveries) this.seenEvents.add(d.event_type);
    const events = [...this.seenEvents].sort();
    const chosen = this.event.value;
    this.event.replaceChildren(h("option", { value: "" }, "All events"), ...events.map((e) => h("option", { value: e }, e)));
    if (events.includes(chosen)) this.event.value = chosen;
    this.render();
  }

  render() {
    if (!this.deliveries) return;
    const open = new Set([...this.log.querySelectorAll("details[open]")].map((d) => d.dataset.key));
    const rows = this.deliveries;
    this.log.replaceChildren(
      h("h2", {}, `Deliveries (the latest ${rows.length}${this.event.value || this.outcome.value ? " that match" : ""})`),
      ...(rows.length ? rows.map((d) => delivery(d, open)) : [h("p", { class: "empty" }, "No delivery matches.")]),
    );
  }

  async save(e, button) {
    e.preventDefault();
    const filters = this.filters.value.split(",").map((f) => f.trim()).filter(Boolean);
    await this.act(button, async () => {
      await this.ctx.api.post("/v1/Configuration/Webhooks", {
        PostWebhookUrl: this.postUrl.value,
        PreWebhookUrl: this.preUrl.value,
        Method: this.method.value,
        Filters: filters,
        Target: "webhook",
      });
      this.say("Saved the account's webhook targets.");
    });
  }
}

/** One attempt, folded: the line says what happened; opened, everything the log keeps. */
function delivery(d, open) {
  const key = `${d.date_created}|${d.event_type}|${d.url}|${d.retry_count}|${d.kind}`;
  const row = (term, value) => (value === undefined ? "" : [h("dt", {}, term), h("dd", {}, value)]);
  const recorded = (value) => (value === undefined || value === null ? h("span", { class: "muted" }, "not in this log") : value);
  return h("details", { class: `delivery outcome-${d.outcome}`, dataset: { key }, open: open.has(key) },
    h("summary", {},
      h("span", { class: "event" }, d.event_type), " ", badge(d.outcome), " ",
      h("span", {}, d.status ? `HTTP ${d.status}` : "no answer"), " ",
      h("span", { class: "muted" }, `${d.latency_ms ?? "—"} ms · retry ${d.retry_count} · `), when(d.date_created)),
    h("dl", { class: "facts" },
      row("Request", code(`${d.method} ${d.url}`)),
      row("Kind", `${d.kind === "pre" ? "pre-action" : "post-action"} (${d.target})`),
      row("Conversation", d.conversation_sid ? link(`#/conversations/${d.conversation_sid}`, d.conversation_sid) : "—"),
      row("Webhook", code(d.webhook_sid)),
      row("Retry count", String(d.retry_count)),
      row("Status", d.status ? String(d.status) : "no answer"),
      row("Latency", d.latency_ms === null ? "—" : `${d.latency_ms} ms`),
      row("Error", d.error || "—"),
      row("Parameters", recorded(d.params && parameters(d.params))),
      row("Signature", d.target === "studio" ? "nothing was sent" : recorded(d.signature && code(d.signature))),
      row("Answer's body", d.status === null ? "no answer came" : recorded(d.response_body !== null &&
        d.response_body !== undefined ? h("pre", {}, d.response_body || "(empty)") : null))));
}

function parameters(params) {
  const pairs = Array.isArray(params) ? params : Object.entries(params);
  return h("table", { class: "params" }, h("caption", { class: "visually-hidden" }, "Parameters"),
    h("tbody", {}, pairs.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, String(v))))));
}

// ---------------------------------------------------------------------------------------------
// Outbound and receipts

export class OutboundPage extends Page {
  constructor(ctx) {
    super(ctx, "Outbound and receipts");
    this.conversation = input({ placeholder: "CH…" });
    const filter = h("form", { class: "toolbar", role: "search", "aria-label": "Filter outbound messages",
      onsubmit: (e) => { e.preventDefault(); this.refresh(); } },
    field("Conversation SID", this.conversation), h("button", { type: "submit" }, "Filter"));
    this.list = h("div", { class: "list" });
    this.el.append(this.title, h("p", { class: "muted" },
      "What would have gone out by SMS or WhatsApp (confab sends nothing to carriers), each with its delivery receipt."),
    this.notices, filter, this.list);
  }

  async load() {
    // Rebuilding the rows would take away a status being chosen: wait for the next change.
    if (this.list.contains(document.activeElement) && document.activeElement.tagName !== "BUTTON") return;
    const page = await this.ctx.api.get("/confab/Outbound", { ConversationSid: this.conversation.value.trim(), PageSize: 100 });
    const outbound = (page.messages || []).filter((m) => m.receipt_sid);
    this.list.replaceChildren(table("Outbound messages and their receipts", [
      { title: "Sent", cell: (m) => when(m.date_created) },
      { title: "Conversation", cell: (m) => link(`#/conversations/${m.conversation_sid}`, m.conversation_sid) },
      { title: "Channel", cell: (m) => m.channel || "—" },
      { title: "From", cell: (m) => m.from || "—" },
      { title: "To", cell: (m) => m.to || "—" },
      { title: "Body", cell: (m) => m.body ?? "" },
      { title: "Receipt", cell: (m) => [badge(m.status), m.error_code ? ` error ${m.error_code}` : "", h("br"), code(m.receipt_sid)] },
      { title: "Move receipt", cell: (m) => this.mover(m) },
    ], outbound, "Nothing went out yet: add an SMS or WhatsApp participant and post a message."));
  }

  mover(m) {
    const status = select(RECEIPT_STATUSES, { "aria-label": `New status for ${m.receipt_sid}` });
    const error = input({ inputmode: "numeric", size: 6, placeholder: "30003", "aria-label": `Error code for ${m.receipt_sid}` });
    const move = h("button", { type: "submit", "aria-label": `Move receipt ${m.receipt_sid}` }, "Move");
    return h("form", { class: "mover", "aria-label": `Receipt ${m.receipt_sid}`, onsubmit: (e) => {
      e.preventDefault();
      const failing = status.value === "failed" || status.value === "undelivered";
      this.act(move, () => this.ctx.api.post(`/confab/Receipts/${m.receipt_sid}`, {
        Status: status.value,
        ErrorCode: failing ? error.value || "30003" : undefined,
      }));
    } }, status, error, move);
  }
}

// ---------------------------------------------------------------------------------------------
// The clock

export class ClockPage extends Page {
  constructor(ctx) {
    super(ctx, "Clock");
    this.now = h("div", { class: "summary" });
    this.advance = input({ value: "PT10M" });
    this.move = h("button", { type: "submit" }, "Move clock forward");
    this.form = h("form", { class: "toolbar", "aria-label": "Move the clock", onsubmit: (e) => this.forward(e) },
      field("Advance by", this.advance, "an ISO-8601 duration: PT1M, PT10M, PT1H, P1D"), this.move);
    this.el.append(this.title, this.notices, this.now, this.form, h("p", { class: "muted" },
      "There is one clock, which every account's timers, receipts and webhook retries follow: only the operator account " +
      "(the one confab was started with) may move it, and only in --test-mode."));
  }

  wants(event) {
    return ["poll", "tick", "connected"].includes(event.type);
  }

  async load() {
    const clock = await this.ctx.api.get("/confab/Clock");
    this.now.replaceChildren(h("dl", { class: "facts" },
      h("dt", {}, "Server time"), h("dd", {}, when(clock.now), " ", code(clock.now)),
      h("dt", {}, "Test mode"), h("dd", {}, clock.test_mode ? "on: the clock can be moved" :
        "off: the clock is the system's, and cannot be moved")));
    this.form.hidden = !clock.test_mode;
  }

  async forward(e) {
    e.preventDefault();
    await this.act(this.move, async () => {
      const clock = await this.ctx.api.post("/confab/Clock", { Advance: this.advance.value.trim() });
      this.say(`The clock now reads ${clock.now}.`);
    });
  }
}
