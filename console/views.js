// Small helpers to build the page's DOM. Values from the API (message bodies, names) are only
// ever set as text, never as HTML.

/** h("button", {type: "submit", onclick}, "Send"): an element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "value") el.value = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

let fieldCount = 0;

/** A labelled control: the label names it (its accessible name is exactly `label`). */
export function field(label, control, hint) {
  const id = control.id || `f${++fieldCount}`;
  control.id = id;
  const hintEl = hint ? h("small", { id: `${id}-hint`, class: "hint" }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

export function input(attrs = {}) {
  return h("input", { type: "text", autocomplete: "off", spellcheck: "false", ...attrs });
}

export function select(options, attrs = {}) {
  const el = h("select", attrs);
  for (const option of options) {
    const [value, text] = Array.isArray(option) ? option : [option, option];
    el.append(h("option", { value }, text));
  }
  if (attrs.value !== undefined) el.value = attrs.value;
  return el;
}

/** A table with a caption (its accessible name) and one row per item. */
export function table(caption, columns, rows, empty = "Nothing yet.") {
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.title)));
  const body = rows.length
    ? rows.map((row) => h("tr", {}, columns.map((c) => h("td", { "data-label": c.title }, c.cell(row)))))
    : [h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty))];
  return h(
    "div",
    { class: "table-wrap" },
    h("table", {}, h("caption", {}, caption), h("thead", {}, head), h("tbody", {}, body)),
  );
}

/** An ISO-8601 date as the viewer's local time, the exact value in its title. */
export function when(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return h("time", { datetime: iso, title: iso }, date.toLocaleString());
}

export function code(text) {
  return text ? h("code", {}, text) : h("span", { class: "muted" }, "—");
}

export function badge(text, kind = text) {
  return h("span", { class: `badge badge-${String(kind).replace(/[^a-z_]/gi, "")}` }, text ?? "—");
}

/** A status line for the page: errors as alerts (read out at once), the rest as status. */
export function notice(region, message, kind = "info") {
  region.replaceChildren();
  if (!message) return;
  region.setAttribute("role", kind === "error" ? "alert" : "status");
  region.append(h("p", { class: `notice notice-${kind}` }, message));
}

export function link(href, text, attrs = {}) {
  return h("a", { href, ...attrs }, text);
}
