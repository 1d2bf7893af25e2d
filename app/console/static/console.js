// alertflow console: plain JavaScript, no build step. Reads the HTTP API and the live stream
// (GET /api/v1/stream as Server-Sent Events over fetch, so the token goes in a header).
// Every piece of data reaches the page through textContent: nothing from an alert is HTML.
"use strict";

const store = window.sessionStorage;
const state = {
  token: store.getItem("alertflow.token") || "",
  tenant: store.getItem("alertflow.tenant") || "",
  by: store.getItem("alertflow.by") || "console",
  cursor: null,
  incidents: new Map(),  // id -> incident, for the incidents view
  alerts: new Map(),     // id -> alert, for the latest alerts table
  streamed: new Map(),   // id -> alert, what the stream brought since it (re)connected
  view: null,            // what is shown: {name, id}
  refreshers: new Map(), // incident id -> timer of a pending refresh
  results: new Map(),    // incident id -> what its last button did (kept across refreshes)
};

// ---- DOM helpers ------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
const svgNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(svgNS, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return el;
}
const $ = (id) => document.getElementById(id);
const main = () => $("main");
function announce(text) { $("announce").textContent = text; }
function when(text) {
  if (!text) return "–";
  const d = new Date(text);
  return isNaN(d) ? text : d.toLocaleString();
}
function keepFocus(update) {  // live updates must not take the keyboard focus away
  const active = document.activeElement;
  const key = active && active !== document.body && main().contains(active)
    ? [active.tagName, active.getAttribute("href"), active.textContent.trim(), active.dataset.name]
    : null;
  update();
  if (key && !document.contains(active)) {
    const match = [...main().querySelectorAll(key[0])].find((e) => e.getAttribute("href") === key[1]
      && e.textContent.trim() === key[2] && e.dataset.name === key[3]);
    if (match) match.focus();
  }
}
function timeEl(text) { return h("time", { datetime: text }, when(text)); }
function score(value) { return value === null || value === undefined ? "–" : Number(value).toFixed(2); }
function sev(text) { return h("span", { class: "sev-" + text }, text); }
function statusEl(text) { return h("span", { class: "st-" + text }, text); }
function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (Array.isArray(value)) value.forEach((v) => q.append(key, v));
    else if (value !== "" && value !== null && value !== undefined) q.append(key, value);
  }
  const text = q.toString();
  return text ? "?" + text : "";
}
function message(text, error) {
  return h("p", { class: error ? "message error" : "message", role: error ? "alert" : "status" }, text);
}

// ---- the HTTP API -----------------------------------------------------------------------
class ApiFailure extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.error)) || "HTTP " + status);
    this.status = status;
  }
}
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401) {
    showSignin(state.token ? "The server refused this token." : "This server needs its API token.");
  }
  if (!response.ok) throw new ApiFailure(response.status, data);
  return data;
}

// ---- sign-in, tenant and name -------------------------------------------------------------
function showSignin(why) {
  $("signin-why").textContent = why;
  $("signin").hidden = false;
  $("token").focus();
}
function setupForms() {
  $("tenant").value = state.tenant;
  $("by").value = state.by;
  $("scope").addEventListener("submit", (event) => {
    event.preventDefault();
    state.tenant = $("tenant").value.trim();
    state.by = $("by").value.trim() || "console";
    store.setItem("alertflow.tenant", state.tenant);
    store.setItem("alertflow.by", state.by);
    restartStream();
    render();
  });
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    store.setItem("alertflow.token", state.token);
    $("token").value = "";
    $("signin").hidden = true;
    $("forget").hidden = !state.token;
    restartStream();
    render();
  });
  $("forget").hidden = !state.token;
  $("forget").addEventListener("click", () => {
    state.token = "";
    store.removeItem("alertflow.token");
    $("forget").hidden = true;
    showSignin("Token forgotten.");
  });
}

// ---- the live stream ----------------------------------------------------------------------
let streamAbort = null;
let streamGeneration = 0;
function setLive(on, text) {
  const el = $("live");
  el.textContent = text;
  el.className = "live " + (on ? "on" : "off");
}
function restartStream() {
  if (streamAbort) streamAbort.abort();
  state.cursor = null;
  state.helloSeen = false;
  state.streamed = new Map();
  setLive(false, "Connecting…");
  openStream(++streamGeneration, 0);
}
async function openStream(generation, failures) {
  if (generation !== streamGeneration) return;
  const abort = new AbortController();
  streamAbort = abort;
  const headers = { Accept: "text/event-stream" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  if (state.cursor) headers["Last-Event-ID"] = state.cursor;
  try {
    const response = await fetch("/api/v1/stream" + query({ tenant: state.tenant }), {
      headers, signal: abort.signal, cache: "no-store",
    });
    if (response.status === 401) {
      setLive(false, "Not signed in");
      showSignin(state.token ? "The server refused this token." : "This server needs its API token.");
      return;
    }
    if (!response.ok) throw new Error("HTTP " + response.status);
    failures = 0;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: "))
          .map((l) => l.slice(6)).join("\n");
        if (data) onEvent(JSON.parse(data));
      }
    }
  } catch (error) {
    if (abort.signal.aborted) return;
  }
  if (generation !== streamGeneration) return;
  setLive(false, "Reconnecting…");
  const wait = Math.min(1000 * 2 ** failures, 15000);
  setTimeout(() => openStream(generation, failures + 1), wait);
}
function onEvent(event) {
  if (event.cursor) state.cursor = event.cursor;
  if (event.type === "hello") setLive(true, "Live");
  if (event.type === "hello" && !state.helloSeen) {
    state.helloSeen = true;  // the stream is live from here: load what came before it
    render(false);
  } else if (event.type === "alert") onAlert(event.alert);
  else if (event.type === "notification") refreshIncident(event.notification.notification.incident_id);
  else if (event.type === "feedback") refreshIncident(event.feedback.incident_id);
  else if (event.type === "dropped") {
    announce(event.count + " updates were skipped; reloading.");
    render();
  }
}
function onAlert(alert) {
  state.streamed.set(alert.id, alert);  // a list loaded before it came must not lose it
  if (state.streamed.size > 200) state.streamed.delete(state.streamed.keys().next().value);
  const view = state.view || {};
  if (view.name === "incidents") {
    state.alerts.set(alert.id, alert);
    if (!state.incidents.has(alert.incident_id) && alert.incident_id) {
      state.incidents.set(alert.incident_id, provisional(alert));
    }
    drawIncidentsTables([alert.id, alert.incident_id]);
    announce("Alert: " + alert.title);
  }
  if (alert.incident_id) refreshIncident(alert.incident_id);
}
function isAcked(incident) {
  return Boolean(incident.acknowledged || Object.keys(incident.notified || {}).some((k) => k.endsWith(":acknowledged")));
}
function provisional(alert) {  // shown at once; the incident's own record follows
  return {
    id: alert.incident_id, tenant: alert.tenant, status: alert.status, title: alert.title,
    severity: alert.severity, score: alert.score, alert_count: 1, last_seen: alert.starts_at,
    notified: {}, provisional: true,
  };
}
function refreshIncident(id) {
  if (!id) return;
  clearTimeout(state.refreshers.get(id));
  state.refreshers.set(id, setTimeout(async () => {
    state.refreshers.delete(id);
    const view = state.view || {};
    if (view.name === "incident" && view.id === id) return renderIncident(id, true);
    if (view.name !== "incidents") return;
    try {
      state.incidents.set(id, await api("GET", "/api/v1/incidents/" + encodeURIComponent(id)));
      drawIncidentsTables([id]);
    } catch (error) { /* not there yet: the next event refreshes it */ }
  }, 250));
}

// ---- views --------------------------------------------------------------------------------
function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search] = hash.split("?");
  const params = new URLSearchParams(search || "");
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "incidents" && parts[1]) return { name: "incident", id: decodeURIComponent(parts[1]) };
  if (parts[0] === "silences" && parts[1] === "new") return { name: "silence", alert: params.get("alert") };
  if (parts[0] === "silences") return { name: "silences" };
  if (parts[0] === "model") return { name: "model" };
  return { name: "incidents" };
}
function markNav(name) {
  const target = { incidents: "#/", incident: "#/", silences: "#/silences", silence: "#/silences", model: "#/model" }[name];
  document.querySelectorAll("nav a").forEach((a) => {
    if (a.getAttribute("href") === target) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
}
function page(title, ...content) {
  const heading = h("h1", { tabindex: "-1" }, title);
  main().replaceChildren(heading, ...content);
  document.title = title + " · alertflow";
  return heading;
}
async function render(focus) {
  const view = route();
  state.view = view;
  markNav(view.name);
  let heading;
  try {
    if (view.name === "incident") heading = await renderIncident(view.id);
    else if (view.name === "silences") heading = await renderSilences();
    else if (view.name === "silence") heading = await renderSilenceForm(view.alert);
    else if (view.name === "model") heading = await renderModel();
    else heading = await renderIncidents();
  } catch (error) {
    heading = page("Could not load this view", message(error.message, true));
  }
  if (focus && heading) heading.focus();
}

// Incidents now -----------------------------------------------------------------------------
async function renderIncidents() {
  const status = new URLSearchParams(location.hash.split("?")[1] || "").get("status") || "firing";
  const [incidents, alerts] = await Promise.all([
    api("GET", "/api/v1/incidents" + query({ tenant: state.tenant, status: status === "all" ? "" : status, limit: 200 })),
    api("GET", "/api/v1/alerts" + query({ tenant: state.tenant, limit: 50 })),
  ]);
  state.incidents = new Map(incidents.incidents.map((i) => [i.id, i]));
  state.alerts = new Map(alerts.alerts.map((a) => [a.id, a]));
  for (const alert of state.streamed.values()) {  // newer than the lists, or not in them yet
    state.alerts.set(alert.id, alert);
    if (alert.incident_id && !state.incidents.has(alert.incident_id)) {
      state.incidents.set(alert.incident_id, provisional(alert));
      refreshIncident(alert.incident_id);
    }
  }
  const filter = h("form", { class: "actions", onsubmit: (e) => {
    e.preventDefault();
    location.hash = "#/?status=" + e.target.elements.status.value;
  } },
  h("label", {}, "Show ", h("select", { name: "status" },
    ["firing", "resolved", "all"].map((v) => h("option", { value: v, selected: v === status }, v)))),
  h("button", { type: "submit" }, "Show"));
  const heading = page(state.tenant ? "Incidents of " + state.tenant : "Incidents",
    filter,
    h("table", { id: "incidents" },
      h("caption", { class: "visually-hidden" }, "Incidents, newest first"),
      h("thead", {}, h("tr", {}, ["Status", "Severity", "Incident", "Alerts", "Score", "Last seen", "Notified"]
        .map((t) => h("th", { scope: "col" }, t)))),
      h("tbody")),
    h("h2", {}, "Latest alerts"),
    h("table", { id: "alerts" },
      h("thead", {}, h("tr", {}, ["Started", "Severity", "Alert", "Decision", "Score", "Incident", ""]
        .map((t) => h("th", { scope: "col" }, t)))),
      h("tbody")));
  state.incidentStatus = status;
  drawIncidentsTables([]);
  return heading;
}
function drawIncidentsTables(fresh) {
  keepFocus(() => drawTables(fresh));
}
function drawTables(fresh) {
  const incidentsBody = document.querySelector("#incidents tbody");
  const alertsBody = document.querySelector("#alerts tbody");
  if (!incidentsBody || !alertsBody) return;
  const wanted = state.incidentStatus || "firing";
  const incidents = [...state.incidents.values()]
    .filter((i) => wanted === "all" || i.status === wanted)
    .sort((a, b) => (b.last_seen || "").localeCompare(a.last_seen || ""));
  incidentsBody.replaceChildren(...incidents.map((i) => h("tr", { class: fresh.includes(i.id) ? "new" : null, "data-id": i.id },
    h("td", {}, statusEl(i.status), isAcked(i) ? " · acknowledged" : ""),
    h("td", {}, sev(i.severity)),
    h("td", {}, h("a", { href: "#/incidents/" + encodeURIComponent(i.id) }, i.title)),
    h("td", {}, i.alert_count),
    h("td", {}, score(i.score)),
    h("td", {}, timeEl(i.last_seen)),
    h("td", {}, Object.keys(i.notified || {}).length ? Object.keys(i.notified).length + " sent" : "–"))));
  if (!incidents.length) incidentsBody.append(h("tr", {}, h("td", { colspan: 7 }, "No incidents.")));
  const alerts = [...state.alerts.values()]
    .sort((a, b) => (b.starts_at || "").localeCompare(a.starts_at || "")).slice(0, 50);
  alertsBody.replaceChildren(...alerts.map((a) => h("tr", { class: fresh.includes(a.id) ? "new" : null, "data-id": a.id },
    h("td", {}, timeEl(a.starts_at)),
    h("td", {}, sev(a.severity)),
    h("td", {}, a.title, a.status === "resolved" ? h("span", { class: "st-resolved" }, " (resolved)") : null),
    h("td", {}, a.decision || "–"),
    h("td", {}, score(a.score)),
    h("td", {}, a.incident_id ? h("a", { href: "#/incidents/" + encodeURIComponent(a.incident_id) }, "open") : "–"),
    h("td", {}, h("a", { href: "#/silences/new?alert=" + encodeURIComponent(a.id) }, "Silence…")))));
  if (!alerts.length) alertsBody.append(h("tr", {}, h("td", { colspan: 7 }, "No alerts.")));
}

// One incident ------------------------------------------------------------------------------
async function renderIncident(id, quiet) {
  const incident = await api("GET", "/api/v1/incidents/" + encodeURIComponent(id));
  const [alerts, similar] = await Promise.all([
    api("GET", "/api/v1/alerts" + query({ incident: id, limit: 1000 })),
    incident.templates && incident.templates.length
      ? api("GET", "/api/v1/incidents" + query({ tenant: incident.tenant, template: incident.templates[0], limit: 6 }))
      : Promise.resolve({ incidents: [] }),
  ]);
  const view = state.view || {};
  if (quiet && !(view.name === "incident" && view.id === id)) return null;
  const result = h("div", { id: "result", "aria-live": "polite" });
  const said = state.results.get(id);
  if (said) result.append(message(said.text, said.error));
  const act = (path, body, done) => async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      await api("POST", "/api/v1/incidents/" + encodeURIComponent(id) + path, { by: state.by, ...body });
      const text = done + " — recorded for " + incident.alert_count + " alert(s); the model learns from it.";
      state.results.set(id, { text, error: false });
      result.replaceChildren(message(text));
    } catch (error) {
      state.results.set(id, { text: error.message, error: true });
      result.replaceChildren(message(error.message, true));
    } finally {
      button.disabled = false;
    }
  };
  const acked = isAcked(incident);
  let heading;
  const draw = () => { heading = page(incident.title,
    h("dl", { class: "facts" },
      h("dt", {}, "Status"), h("dd", {}, statusEl(incident.status), acked ? " · acknowledged" : ""),
      h("dt", {}, "Severity"), h("dd", {}, sev(incident.severity)),
      h("dt", {}, "Score"), h("dd", {}, score(incident.score)),
      h("dt", {}, "Tenant"), h("dd", {}, incident.tenant),
      h("dt", {}, "Alerts"), h("dd", {}, incident.alert_count),
      h("dt", {}, "First seen"), h("dd", {}, timeEl(incident.first_seen)),
      h("dt", {}, "Last seen"), h("dd", {}, timeEl(incident.last_seen)),
      h("dt", {}, "Id"), h("dd", { class: "mono" }, incident.id)),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "primary", onclick: act("/acknowledge", { actionable: true }, "Acknowledged") }, "Acknowledge"),
      h("button", { type: "button", onclick: act("/resolve", { actionable: true }, "Resolved") }, "Resolve"),
      h("button", { type: "button", onclick: act("/resolve", { actionable: false }, "Marked as noise") }, "This was noise")),
    result,
    h("h2", {}, "Why"),
    h("ul", {}, (incident.reasons || []).map((r) => h("li", {}, r))),
    h("h2", {}, "Template"),
    h("ul", {}, (incident.templates || []).map((t) => h("li", {}, h("code", {}, t)))),
    h("h2", {}, "Alerts"),
    alertTable(alerts.alerts),
    h("h2", {}, "Timeline"),
    h("ol", { class: "timeline" }, timeline(incident, alerts.alerts).map(([at, text]) => h("li", {}, timeEl(at), " ", text))),
    h("h2", {}, "Similar past incidents"),
    similarList(similar.incidents.filter((i) => i.id !== id))); };
  if (quiet) keepFocus(draw);
  else draw();
  return heading;
}
function alertTable(alerts) {
  return h("table", {},
    h("thead", {}, h("tr", {}, ["Status", "Severity", "Alert", "Decision", "Score", "Why", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, alerts.map((a) => h("tr", {},
      h("td", {}, statusEl(a.status)),
      h("td", {}, sev(a.severity)),
      h("td", {}, a.title),
      h("td", {}, a.decision || "–"),
      h("td", {}, score(a.score)),
      h("td", {}, h("ul", {}, (a.reasons || []).map((r) => h("li", {}, r)))),
      h("td", {}, h("a", { href: "#/silences/new?alert=" + encodeURIComponent(a.id) }, "Silence…"))))));
}
function timeline(incident, alerts) {
  const items = [[incident.first_seen, "Incident opened"]];
  for (const a of alerts) {
    items.push([a.starts_at, "Alert fired: " + a.title]);
    if (a.status === "resolved" && a.ends_at) items.push([a.ends_at, "Alert resolved: " + a.title]);
    for (const f of a.feedback || []) {
      const what = f.kind === "ack" ? "acknowledged" : f.actionable ? "resolved" : "resolved as noise";
      items.push([f.at, "Alert " + what + " by " + f.by + ": " + a.title]);
    }
  }
  for (const [key, at] of Object.entries(incident.notified || {})) {
    const [receiver, state_] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
    const what = state_.startsWith("escalation") ? "Escalated (level " + state_.split(":")[1] + ") to "
      : state_.startsWith("update") ? "Update sent to " : state_.startsWith("repeat") ? "Reminder sent to "
      : state_ === "firing" ? "Paged " : "Told " + state_ + ": ";
    items.push([at, what + receiver]);
  }
  for (const entry of incident.timeline || []) items.push([entry.at, entry.what || entry.kind || JSON.stringify(entry)]);
  return items.filter(([at]) => at).sort((a, b) => new Date(a[0]) - new Date(b[0]));
}
function similarList(incidents) {
  if (!incidents.length) return h("p", { class: "muted" }, "None with the same template.");
  return h("ul", {}, incidents.map((i) => h("li", {},
    h("a", { href: "#/incidents/" + encodeURIComponent(i.id) }, i.title), " — ", statusEl(i.status), ", ",
    i.alert_count + " alert(s), last seen ", timeEl(i.last_seen))));
}

// Silences ------------------------------------------------------------------------------------
async function renderSilences() {
  const data = await api("GET", "/api/v1/silences");
  const result = h("div", { "aria-live": "polite" });
  const rows = data.silences.map((silence) => h("tr", {},
    h("td", {}, silence.status.state),
    h("td", {}, h("code", {}, silence.matchers.map(matcherText).join(", "))),
    h("td", {}, timeEl(silence.starts_at)),
    h("td", {}, timeEl(silence.ends_at)),
    h("td", {}, silence.created_by),
    h("td", {}, silence.comment),
    h("td", {}, silence.status.state === "expired" ? "" : h("button", { type: "button", onclick: async (event) => {
      event.currentTarget.disabled = true;
      try {
        await api("DELETE", "/api/v1/silences/" + encodeURIComponent(silence.id));
        result.replaceChildren(message("Silence expired."));
        setTimeout(() => render(), 500);
      } catch (error) { result.replaceChildren(message(error.message, true)); }
    } }, "Expire"))));
  return page("Silences", result, h("table", {},
    h("thead", {}, h("tr", {}, ["State", "Matchers", "Starts", "Ends", "Created by", "Comment", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 7 }, "No silences.")))),
  h("p", { class: "muted" }, "Create a silence from an alert: “Silence…” in the incidents list or on an incident's page."));
}
function matcherText(m) {
  return m.name + (m.isEqual === false ? "!" : "=") + (m.isRegex ? "~" : "") + JSON.stringify(m.value);
}
function silenceLabels(alert) {  // what silences see of an alert (app.config.routes.group_labels)
  const fields = {
    tenant: alert.tenant || "", source: alert.source || "", service: alert.service || "",
    severity: alert.severity || "", alertname: alert.template_id || alert.title || "",
  };
  return { ...fields, ...(alert.labels || {}) };
}
async function renderSilenceForm(alertId) {
  if (!alertId) return page("New silence", message("Choose an alert to silence from the incidents list.", true));
  const alert = await api("GET", "/api/v1/alerts/" + encodeURIComponent(alertId));
  const labels = silenceLabels(alert);
  const preview = h("div", { class: "preview", "aria-live": "polite" }, "…");
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { id: "silence-form" });
  const chosen = () => [...form.querySelectorAll("input[name=matcher]:checked")]
    .map((box) => ({ name: box.dataset.name, value: box.dataset.value, isRegex: false, isEqual: true }));
  let pending;
  const updatePreview = () => {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const matchers = chosen();
      try {
        const found = await api("GET", "/api/v1/alerts" + query({
          status: "firing", limit: 10, filter: matchers.map((m) => m.name + "=" + JSON.stringify(m.value)),
        }));
        preview.replaceChildren(
          h("p", {}, "Matches " + found.total + " firing alert(s) now" + (found.total ? ":" : ".")),
          h("ul", {}, found.alerts.map((a) => h("li", {}, sev(a.severity), " ", a.title, " ", h("span", { class: "muted" }, "(" + a.tenant + ")")))));
      } catch (error) { preview.replaceChildren(message(error.message, true)); }
    }, 200);
  };
  const boxes = Object.entries(labels).filter(([, value]) => value !== "").map(([name, value]) =>
    h("div", {}, h("label", {},
      h("input", { type: "checkbox", name: "matcher", checked: true, disabled: name === "tenant",
        "data-name": name, "data-value": value, onchange: updatePreview }),
      " ", h("code", {}, name + "=" + JSON.stringify(value)),
      name === "tenant" ? h("span", { class: "muted" }, " (always: a silence stays in its tenant)") : null)));
  form.append(
    h("fieldset", {}, h("legend", {}, "Match alerts whose labels are"), boxes),
    h("p", {}, h("label", {}, "For ", h("select", { name: "duration" },
      [["30m", 30], ["1 hour", 60], ["2 hours", 120], ["4 hours", 240], ["1 day", 1440]]
        .map(([text, minutes]) => h("option", { value: minutes, selected: minutes === 60 }, text))))),
    h("p", {}, h("label", {}, "Comment ", h("input", { name: "comment", size: 40, value: "silenced from the console" }))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create silence")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const minutes = Number(form.elements.duration.value);
    const body = {
      matchers: chosen(),
      starts_at: new Date().toISOString(),
      ends_at: new Date(Date.now() + minutes * 60000).toISOString(),
      created_by: state.by, comment: form.elements.comment.value,
    };
    try {
      const created = await api("POST", "/api/v1/silences", body);
      result.replaceChildren(message("Silence " + created.id + " created."), h("p", {}, h("a", { href: "#/silences" }, "See all silences")));
      result.querySelector("a").focus();
    } catch (error) { result.replaceChildren(message(error.message, true)); }
  });
  const heading = page("Silence alerts like “" + alert.title + "”",
    h("p", { class: "muted" }, "Untick the labels that should not have to match. The preview shows what the silence would mute now."),
    form, h("h2", {}, "Preview"), preview, result);
  updatePreview();
  return heading;
}

// The model of a tenant ---------------------------------------------------------------------
async function renderModel() {
  if (!state.tenant) {
    return page("Model", h("p", {}, "The model is per tenant: enter one in “Tenant” above and press Apply."));
  }
  const [model, incidents] = await Promise.all([
    api("GET", "/api/v1/models/" + encodeURIComponent(state.tenant)),
    api("GET", "/api/v1/incidents" + query({ tenant: state.tenant, limit: 1000 })),
  ]);
  const figure = (label, value) => h("div", { class: "figure" }, h("b", {}, value === null || value === undefined ? "–" : value), label);
  const daily = model.daily || [];
  const pages = pagesPerDay(incidents.incidents);
  const c = model.confusion || {};
  return page("Model of " + state.tenant,
    h("p", { class: "muted" }, model.model),
    h("div", { class: "figures" },
      figure("labels learned", model.samples),
      figure("validated (people's labels)", model.validated),
      figure("precision at " + model.threshold, model.precision),
      figure("recall", model.recall),
      figure("ROC AUC", model.roc_auc),
      figure("prior share", model.prior_share)),
    h("h2", {}, "Learning curve"),
    lineChart("Precision and recall per day (progressive validation)", daily.map((d) => d.day),
      [["precision", daily.map((d) => d.precision)], ["recall", daily.map((d) => d.recall)]]),
    h("h2", {}, "Pages per day"),
    barChart("Incidents paged per day", pages.map((p) => p[0]), pages.map((p) => p[1])),
    h("h2", {}, "Confusion at the notify threshold"),
    h("table", {}, h("tbody", {},
      h("tr", {}, h("th", { scope: "row" }, "paged, acted on (tp)"), h("td", {}, c.tp)),
      h("tr", {}, h("th", { scope: "row" }, "paged, noise (fp)"), h("td", {}, c.fp)),
      h("tr", {}, h("th", { scope: "row" }, "not paged, acted on (fn)"), h("td", {}, c.fn)),
      h("tr", {}, h("th", { scope: "row" }, "not paged, noise (tn)"), h("td", {}, c.tn)))),
    h("h2", {}, "What people said, by kind"),
    h("table", {},
      h("thead", {}, h("tr", {}, ["Kind", "Acted on", "Noise", "Ack ratio"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, Object.entries(model.kinds || {}).map(([kind, k]) => h("tr", {},
        h("td", {}, kind), h("td", {}, k.actionable), h("td", {}, k.noise), h("td", {}, k.ack_ratio))))));
}
function pagesPerDay(incidents) {
  const days = new Map();
  for (const incident of incidents) {
    const paged = Object.entries(incident.notified || {}).filter(([key]) => key.endsWith(":firing")).map(([, at]) => at).sort()[0];
    if (paged) days.set(paged.slice(0, 10), (days.get(paged.slice(0, 10)) || 0) + 1);
  }
  return [...days.entries()].sort((a, b) => a[0].localeCompare(b[0]));
}
function chartFrame(title, labels, yMax, draw) {
  const width = 640, height = 240, left = 40, right = 10, top = 12, bottom = 36;
  const x = (i) => left + (labels.length <= 1 ? (width - left - right) / 2 : i * (width - left - right) / (labels.length - 1));
  const y = (v) => top + (1 - v / yMax) * (height - top - bottom);
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title },
    s("title", {}, title),
    s("line", { class: "axis", x1: left, y1: y(0), x2: width - right, y2: y(0) }),
    s("line", { class: "axis", x1: left, y1: top, x2: left, y2: y(0) }),
    s("text", { x: 4, y: y(yMax) + 4 }, String(yMax)), s("text", { x: 4, y: y(0) + 4 }, "0"));
  labels.forEach((label, i) => {
    if (labels.length <= 8 || i % Math.ceil(labels.length / 8) === 0) {
      svg.append(s("text", { x: x(i) - 14, y: height - 12 }, label.slice(5)));
    }
  });
  draw(svg, x, y);
  return svg;
}
function dataTable(title, labels, series) {
  return h("details", {}, h("summary", {}, "The figures of “" + title + "”"),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), series.map(([name]) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, labels.map((label, i) => h("tr", {}, h("th", { scope: "row" }, label),
        series.map(([, values]) => h("td", {}, values[i] === null || values[i] === undefined ? "–" : values[i])))))));
}
function lineChart(title, labels, series) {
  if (!labels.length) return h("p", { class: "muted" }, "No labels yet: the curve starts with the first acknowledgement or resolve.");
  const svg = chartFrame(title, labels, 1, (svg, x, y) => {
    series.forEach(([, values], k) => {
      const points = values.map((v, i) => (v === null || v === undefined ? null : [x(i), y(v)])).filter(Boolean);
      if (points.length) svg.append(s("polyline", { class: "s" + (k + 1), points: points.map((p) => p.join(",")).join(" ") }));
      points.forEach(([px, py]) => svg.append(s("circle", { class: "d" + (k + 1), cx: px, cy: py, r: 3 })));
    });
  });
  return h("figure", {}, svg,
    h("figcaption", { class: "legend" }, series.map(([name], k) => h("span", { class: "k" + (k + 1) }, (k ? "- - " : "—— ") + name))),
    dataTable(title, labels, series));
}
function barChart(title, labels, values) {
  if (!labels.length) return h("p", { class: "muted" }, "Nothing paged yet.");
  const top = Math.max(1, ...values);
  const svg = chartFrame(title, labels, top, (svg, x, y) => {
    const width = Math.max(4, Math.min(30, 560 / labels.length - 4));
    values.forEach((v, i) => svg.append(s("rect", { class: "bar", x: x(i) - width / 2, y: y(v), width, height: y(0) - y(v) })));
  });
  return h("figure", {}, svg, dataTable(title, labels, [["pages", values]]));
}

// ---- start --------------------------------------------------------------------------------
window.addEventListener("hashchange", () => render(true));
document.addEventListener("DOMContentLoaded", () => {
  setupForms();
  render(false);
  restartStream();
});
