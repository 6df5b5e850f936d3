// The console's shell: signing in, the navigation, the routes (#/...), and live updates handed
// to the page on screen.

import { Api, ApiError, session } from "./api.js";
import { Live } from "./live.js";
import { ClockPage, ConversationPage, ConversationsPage, OutboundPage, PhonePage, WebhooksPage } from "./pages.js";
import { field, h, input, notice, select } from "./views.js";

// Pages whose data changes without an event of the stream (a delivery answered, the clock)
// also look again every few seconds.
const TICK_MS = 5000;

const NAV = [
  ["#/conversations", "Conversations"],
  ["#/phone", "Phone"],
  ["#/webhooks", "Webhooks"],
  ["#/outbound", "Outbound"],
  ["#/clock", "Clock"],
];

const root = document.getElementById("app");
const ctx = {
  api: null,
  service: "",
  prefix: () => (ctx.service ? `/v1/Services/${ctx.service}` : "/v1"),
  navigate: (hash) => {
    location.hash = hash;
  },
  signOut,
};
let live = null;
let page = null;
let tick = null;

function start() {
  const saved = session.load();
  if (saved) enter(saved);
  else showSignIn();
}

// ---- signing in

function showSignIn(message) {
  stopLive();
  const username = input({ autocomplete: "username", required: true, placeholder: "AC… or SK…" });
  const secret = input({ type: "password", autocomplete: "current-password", required: true });
  const status = h("div", { class: "notices" });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "sign-in", "aria-labelledby": "sign-in-title", onsubmit: (e) => signIn(e, username, secret, button, status) },
    h("h1", { id: "sign-in-title" }, "confab console"),
    h("p", { class: "muted" },
      "Sign in with an Account SID and its Auth Token, or an API key SID (SK…) and its secret. " +
      "They are kept in this tab only, and every call is the public API with them."),
    field("Account SID", username),
    field("Auth Token", secret),
    status,
    button,
  );
  root.replaceChildren(h("main", { class: "center" }, form));
  if (message) notice(status, message, "error");
  username.focus();
}

async function signIn(e, username, secret, button, status) {
  e.preventDefault();
  button.disabled = true;
  const credentials = { username: username.value.trim(), secret: secret.value };
  const api = new Api(credentials);
  try {
    const configuration = await api.get("/v1/Configuration");
    credentials.accountSid = configuration.account_sid;
    session.save(credentials);
    enter(credentials);
  } catch (err) {
    const refused = err instanceof ApiError && err.status === 401;
    notice(status, refused ? "These credentials were refused." : err.message, "error");
    button.disabled = false;
  }
}

function signOut(message) {
  session.clear();
  if (ctx.api) ctx.api.close();
  ctx.api = null;
  if (page) page.destroy();
  page = null;
  showSignIn(message);
}

// ---- the shell

function enter(credentials) {
  ctx.api = new Api(credentials);
  const liveStatus = h("span", { class: "live", role: "status", "aria-live": "polite" }, "connecting…");
  const services = select([["", "Default service"]], {
    onchange: () => {
      ctx.service = services.value;
      route();
    },
  });
  const nav = h("nav", { "aria-label": "Sections" }, h("ul", {}, NAV.map(([href, text]) => h("li", {}, h("a", { href }, text)))));
  const header = h(
    "header",
    { class: "top" },
    h("a", { class: "brand", href: "#/conversations" }, "confab"),
    nav,
    h("div", { class: "who" },
      field("Service", services),
      liveStatus,
      h("span", { class: "account", title: "Signed in as" }, credentials.accountSid || credentials.username),
      h("button", { type: "button", onclick: () => signOut() }, "Sign out")),
  );
  root.replaceChildren(header, h("main", { id: "main" }));
  loadServices(services);
  window.onhashchange = route;
  route();
  startLive(liveStatus);
}

async function loadServices(services) {
  try {
    const list = await ctx.api.get("/v1/Services", { PageSize: 50 });
    for (const s of list.services) services.append(h("option", { value: s.sid }, s.friendly_name || s.sid));
  } catch {
    // An API key without access to services still sees the default one.
  }
}

function route() {
  const hash = location.hash || "#/conversations";
  const [, section, id] = hash.split("/");
  if (page) page.destroy();
  page =
    section === "conversations" && id ? new ConversationPage(ctx, decodeURIComponent(id))
    : section === "phone" ? new PhonePage(ctx)
    : section === "webhooks" ? new WebhooksPage(ctx)
    : section === "outbound" ? new OutboundPage(ctx)
    : section === "clock" ? new ClockPage(ctx)
    : new ConversationsPage(ctx);
  for (const a of document.querySelectorAll("header nav a")) {
    if (a.getAttribute("href") === `#/${section || "conversations"}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  main.replaceChildren(page.el);
  document.title = `${page.title.textContent} · confab console`;
  page.refresh();
}

// ---- live updates

function startLive(status) {
  const labels = {
    connecting: "connecting…",
    stream: "live",
    polling: "live (polling every 2 s)",
    reconnecting: "reconnecting…",
  };
  live = new Live(ctx.api, dispatch, (mode) => {
    status.textContent = labels[mode] || mode;
    status.dataset.mode = mode;
  });
  live.start();
  tick = setInterval(() => dispatch({ type: "tick", data: null, id: "" }), TICK_MS);
}

function stopLive() {
  if (live) live.stop();
  clearInterval(tick);
  live = null;
}

function dispatch(event) {
  if (page && page.wants(event)) page.refresh();
}

start();
