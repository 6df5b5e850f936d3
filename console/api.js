// The console's only way to confab: the public API, with the signed-in credentials in Basic
// auth on every call. The credentials live in this tab's sessionStorage only (gone when the
// tab closes), never in localStorage or a cookie.

const KEY = "confab.console.credentials";

export const session = {
  load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
      return saved && saved.username && saved.secret ? saved : null;
    } catch {
      return null;
    }
  },
  save(credentials) {
    sessionStorage.setItem(KEY, JSON.stringify(credentials));
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

/** A Twilio error body (or a network failure), with what the console shows of it. */
export class ApiError extends Error {
  constructor(status, body) {
    const message = (body && body.message) || `HTTP ${status}`;
    super(body && body.code ? `${message} (error ${body.code})` : message);
    this.status = status;
    this.body = body;
  }
}

export class Api {
  /** @param {{username: string, secret: string}} credentials */
  constructor(credentials) {
    this.credentials = credentials;
    this.authorization = "Basic " + base64(`${credentials.username}:${credentials.secret}`);
    // Every call of one sign-in can be cancelled at once, when the user signs out.
    this.controller = new AbortController();
  }

  headers(extra = {}) {
    // X-Requested-With: a refused call comes back without Basic's challenge, which would make
    // the browser ask for a password in a dialog of its own.
    return {
      Authorization: this.authorization,
      Accept: "application/json",
      "X-Requested-With": "XMLHttpRequest",
      ...extra,
    };
  }

  /** GET path (or an absolute URL of this server, as `meta.next_page_url` is) with query. */
  async get(path, query = {}) {
    return this.request("GET", withQuery(path, query));
  }

  /** POST a form (repeated keys as arrays), as every Twilio write is sent. */
  async post(path, form = {}, headers = {}) {
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries(form)) {
      for (const v of [].concat(value)) if (v !== undefined && v !== null) body.append(name, v);
    }
    return this.request("POST", path, body, headers);
  }

  async request(method, path, body, headers = {}) {
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: this.headers(headers),
        body,
        signal: this.controller.signal,
        cache: "no-store",
      });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new ApiError(0, { message: `confab cannot be reached (${e.message})` });
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = { message: text };
    }
    if (!response.ok) throw new ApiError(response.status, json);
    return json;
  }

  /** The streaming fetch of the event stream (the caller reads its body). */
  stream(path, lastEventId, signal) {
    const headers = this.headers({ Accept: "text/event-stream" });
    if (lastEventId) headers["Last-Event-ID"] = lastEventId;
    return fetch(path, { headers, signal, cache: "no-store" });
  }

  close() {
    this.controller.abort();
  }
}

export function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    for (const v of [].concat(value)) if (v !== undefined && v !== null && v !== "") params.append(name, v);
  }
  const text = params.toString();
  if (!text) return path;
  return path + (path.includes("?") ? "&" : "?") + text;
}

/** Base64 of UTF-8 text (btoa alone takes only Latin-1). */
function base64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}
