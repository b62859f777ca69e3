// stepline console: a small hash-routed single page over the /api routes.
// Every value from the API reaches the page through textContent or setAttribute (never
// innerHTML), so names and payloads cannot inject markup.
"use strict";

const STATUS_LABELS = {
  not_run: "not run", running: "in progress", succeeded: "succeeded", failed: "failed",
  caught: "caught error", cached: "cached", cancelled: "cancelled",
};
const EXEC_STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];
const SVGNS = "http://www.w3.org/2000/svg";
let timers = [];
let charts = [];

// -- helpers ------------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
function s(tag, attrs) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}
// The API needs the console token: the page has it as an HttpOnly cookie (set when the URL
// that `stepline ui` printed was opened), which same-origin fetches send by themselves.
// Requests that change state send a JSON body, as the server's CSRF check requires.
async function api(path, options) {
  const res = await fetch(path, { credentials: "same-origin", ...options });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) throw new Error("This page has no console token: open the URL that `stepline ui` printed (it ends in ?token=…).");
  if (!res.ok) throw new Error(body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : res.statusText);
  return body;
}
function post(path, data) {
  return api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(data || {}) });
}
const enc = encodeURIComponent;
function fmtTime(v) {
  if (v === null || v === undefined || v === "") return "—";
  const d = typeof v === "number" ? new Date(v * 1000) : new Date(v);
  if (isNaN(d)) return String(v);
  return d.toLocaleString(undefined, { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}
function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const sec = ms / 1000;
  if (sec < 60) return `${sec.toFixed(sec < 10 ? 2 : 1)} s`;
  const m = Math.floor(sec / 60), r = Math.round(sec % 60);
  if (m < 60) return `${m} min ${r} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
function pretty(text) {
  if (text === null || text === undefined) return "";
  if (typeof text !== "string") return JSON.stringify(text, null, 2);
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}
function badge(status) {
  const key = String(status || "").toLowerCase();
  return h("span", { class: `badge b-${key}`, "data-status": status }, status);
}
// Polls while `anchor` is on the page; a page that was replaced (or never shown because a
// newer one won the race) stops its own polling at the next tick.
function every(ms, fn, anchor) {
  const born = Date.now();
  const t = setInterval(() => {
    if (anchor.isConnected) fn();
    else if (Date.now() - born > 2000) clearInterval(t);
  }, ms);
  timers.push(t);
  return t;
}
function title(text, ...extra) { return h("div", { class: "page-title" }, h("h1", {}, text), ...extra); }
function section(name, ...children) { return h("section", { class: "card" }, h("h2", {}, name), ...children); }
function errorBox(err) { return h("div", { class: "error-box" }, String(err.message || err)); }
function empty(text) { return h("p", { class: "empty" }, text); }
function table(headers, rows, attrs) {
  return h("table", attrs || {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows));
}
function kvTable(obj, attrs) {
  const rows = Object.entries(obj).filter(([, v]) => v !== undefined).map(([k, v]) =>
    h("tr", {}, h("th", {}, k), h("td", {}, valueNode(v))));
  return h("table", { class: "kv", ...(attrs || {}) }, h("tbody", {}, rows));
}
function valueNode(v) {
  if (v === null || v === undefined || v === "") return h("span", { class: "muted" }, "—");
  if (v instanceof Node) return v;
  if (typeof v === "object") {
    if (Array.isArray(v) && v.length === 0) return h("span", { class: "muted" }, "none");
    return h("pre", { class: "json" }, JSON.stringify(v, null, 2));
  }
  return String(v);
}

// -- router -------------------------------------------------------------------------------
const routes = [
  [/^#\/?$/, () => workflowsPage()],
  [/^#\/workflows$/, () => workflowsPage()],
  [/^#\/workflows\/([^/?]+)$/, (m) => workflowPage(decodeURIComponent(m[1]))],
  [/^#\/executions(\?.*)?$/, (m) => executionsPage(new URLSearchParams((m[1] || "").slice(1)))],
  [/^#\/executions\/([^/?]+)$/, (m) => executionPage(decodeURIComponent(m[1]))],
  [/^#\/jobs$/, () => jobsPage()],
  [/^#\/jobs\/([a-z]+)\/([^/?]+)$/, (m) => jobPage(decodeURIComponent(m[1]), decodeURIComponent(m[2]))],
  [/^#\/endpoints$/, () => endpointsPage()],
  [/^#\/models$/, () => modelsPage()],
];
let routeToken = 0;
async function route() {
  const token = ++routeToken;  // a slower, older page load must not replace a newer one
  timers.forEach(clearInterval); timers = [];
  charts.forEach((c) => c.destroy()); charts = [];
  const hash = location.hash || "#/";
  const main = document.getElementById("main");
  const section = (hash.match(/^#\/(\w+)/) || [null, "workflows"])[1];
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.section === section));
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  for (const [re, fn] of routes) {
    const m = hash.match(re);
    if (m) {
      let content;
      try { content = await fn(m); } catch (err) { content = errorBox(err); }
      if (token === routeToken) main.replaceChildren(content);
      return;
    }
  }
  main.replaceChildren(errorBox("No such page."));
}
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);

// -- graph --------------------------------------------------------------------------------
function textWidth(t) {
  const c = textWidth.c || (textWidth.c = document.createElement("canvas").getContext("2d"));
  c.font = "13px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  return c.measureText(t).width;
}
// Lays out graph_model() output with dagre; Parallel/Map states and their branches become
// nested clusters.  Returns {svg, paint(states), select(id)}.
function drawGraph(model, onSelect) {
  const g = new dagre.graphlib.Graph({ compound: true, multigraph: true });
  // Clusters add border ranks of their own, so a small ranksep still leaves room for arrows.
  g.setGraph({ rankdir: "TB", nodesep: 22, ranksep: 16, edgesep: 12, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  const gid = (id) => "grp:" + id;
  for (const grp of model.groups) {
    g.setNode(gid(grp.id), { label: grp.type === "Branch" && grp.name !== "Iteration" ? grp.name : "", type: grp.type, id: grp.id,
      paddingTop: grp.type === "Branch" ? 26 : 12, paddingBottom: 12, paddingLeft: 12, paddingRight: 12 });
  }
  for (const grp of model.groups) if (grp.parent) g.setParent(gid(grp.id), gid(grp.parent));
  for (const n of model.nodes) {
    let w = 64, hgt = 26;
    if (n.kind === "state") { w = Math.max(110, textWidth(n.name) + 36); hgt = 36; }
    if (n.kind === "join") { w = 12; hgt = 12; }
    g.setNode(n.id, { ...n, width: w, height: hgt });
    if (n.group) g.setParent(n.id, gid(n.group));
  }
  model.edges.forEach((e, i) => g.setEdge(e.source, e.target, { kind: e.kind }, "e" + i));
  dagre.layout(g);
  const gw = g.graph().width, gh = g.graph().height;
  const svg = s("svg", { class: "graph", viewBox: `0 0 ${gw} ${gh}`, width: gw, height: gh, role: "img" });
  const defs = s("defs");
  for (const [id, colour] of [["arrow", "#6b7280"], ["arrow-catch", "#ea580c"]]) {
    const m = s("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    m.append(s("path", { d: "M0,0 L10,5 L0,10 z", fill: colour }));
    defs.append(m);
  }
  svg.append(defs);
  const groupEls = {};
  // Outer groups first so inner ones paint on top.
  const depth = (id) => { let d = 0, p = g.parent(id); while (p) { d++; p = g.parent(p); } return d; };
  const clusters = g.nodes().filter((id) => id.startsWith("grp:")).sort((a, b) => depth(a) - depth(b));
  for (const id of clusters) {
    const c = g.node(id);
    const el = s("g", { class: c.type === "Branch" ? "cluster branch" : "cluster group", "data-group": c.id });
    el.append(s("rect", { x: c.x - c.width / 2, y: c.y - c.height / 2, width: c.width, height: c.height, rx: c.type === "Branch" ? 8 : 12 }));
    if (c.label) {
      // Above the box: a nested Map or Parallel can fill a branch to its top edge.
      const t = s("text", { x: c.x - c.width / 2 + 4, y: c.y - c.height / 2 - 4, class: "cluster-label" });
      t.textContent = c.label;
      el.append(t);
    }
    svg.append(el);
    if (c.type !== "Branch") groupEls[c.id] = el;
  }
  for (const e of g.edges()) {
    const lab = g.edge(e);
    const pts = lab.points;
    let d = `M${pts[0].x},${pts[0].y}`;
    for (let i = 1; i < pts.length - 1; i++) {
      const mx = (pts[i].x + pts[i + 1].x) / 2, my = (pts[i].y + pts[i + 1].y) / 2;
      d += ` Q${pts[i].x},${pts[i].y} ${i === pts.length - 2 ? pts[i + 1].x : mx},${i === pts.length - 2 ? pts[i + 1].y : my}`;
    }
    if (pts.length === 2) d += ` L${pts[1].x},${pts[1].y}`;
    svg.append(s("path", { d, class: `edge e-${lab.kind}`, "marker-end": lab.kind === "catch" ? "url(#arrow-catch)" : "url(#arrow)" }));
  }
  const nodeEls = {};
  for (const id of g.nodes()) {
    if (id.startsWith("grp:")) continue;
    const n = g.node(id);
    const x = n.x - n.width / 2, y = n.y - n.height / 2;
    if (n.kind === "join") {
      const el = s("circle", { cx: n.x, cy: n.y, r: 5, class: "join st-not_run", "data-node": id });
      svg.append(el); nodeEls[id] = el; continue;
    }
    if (n.kind === "start" || n.kind === "end") {
      const el = s("g", { class: "terminal" });
      el.append(s("rect", { x, y, width: n.width, height: n.height, rx: 13 }));
      const t = s("text", { x: n.x, y: n.y + 4, "text-anchor": "middle" }); t.textContent = n.name;
      el.append(t); svg.append(el); continue;
    }
    const el = s("g", { class: "node st-not_run", "data-node": id, "data-name": n.name, "data-type": n.type, "data-status": "not_run", tabindex: 0 });
    el.append(s("rect", { x, y, width: n.width, height: n.height, rx: 7 }));
    const t = s("text", { x: n.x, y: n.y + 4.5, "text-anchor": "middle" }); t.textContent = n.name;
    const tip = s("title"); tip.textContent = `${n.name} (${n.type})`;
    el.append(tip, t);
    el.addEventListener("click", () => onSelect && onSelect(id));
    el.addEventListener("keydown", (ev) => { if (ev.key === "Enter") onSelect && onSelect(id); });
    svg.append(el); nodeEls[id] = el;
  }
  return {
    svg,
    paint(states) {
      for (const [id, el] of Object.entries(nodeEls)) {
        const st = (states[id] && states[id].status) || "not_run";
        el.setAttribute("class", `${el.classList.contains("join") ? "join" : "node"} st-${st}${el.classList.contains("selected") ? " selected" : ""}`);
        el.setAttribute("data-status", st);
      }
      for (const [id, el] of Object.entries(groupEls)) {
        const st = (states[id] && states[id].status) || "not_run";
        el.setAttribute("class", `cluster group gst-${st}`);
        el.setAttribute("data-status", st);
      }
    },
    select(id) {
      for (const el of Object.values(nodeEls)) el.classList.remove("selected");
      if (nodeEls[id]) nodeEls[id].classList.add("selected");
    },
  };
}
function legend() {
  return h("div", { class: "legend" }, Object.entries(STATUS_LABELS).map(([k, v]) =>
    h("span", {}, h("i", { class: `sw st-${k}` }), v)));
}

// -- workflows ----------------------------------------------------------------------------
async function workflowsPage() {
  const { stateMachines } = await api("/api/state-machines");
  const rows = stateMachines.map((sm) => h("tr", {},
    h("td", {}, h("a", { href: `#/workflows/${enc(sm.name)}` }, sm.name)),
    h("td", {}, sm.revisionId),
    h("td", {}, Object.entries(sm.executionCounts).map(([k, v]) => h("span", { class: "count" }, badge(k), ` ${v}`))),
    h("td", {}, fmtTime(sm.creationDate)), h("td", {}, fmtTime(sm.updateDate)),
    h("td", {}, h("a", { href: `#/executions?stateMachine=${enc(sm.name)}` }, "executions →"))));
  return h("div", {}, title("Workflows"),
    h("section", { class: "card" }, stateMachines.length
      ? table(["Name", "Revision", "Executions", "Created", "Updated", ""], rows, { id: "workflows" })
      : empty("No state machines yet. Create one with `stepline states create` or the SDK.")));
}
async function workflowPage(name) {
  const [sm, { versions }] = await Promise.all([
    api(`/api/state-machines/${enc(name)}`), api(`/api/state-machines/${enc(name)}/versions`)]);
  const graphBox = h("div", { class: "graph-box" });
  const jsonBox = h("pre", { class: "json definition", id: "definition-json" });
  const show = (definition, graph) => {
    graphBox.replaceChildren(drawGraph(graph).svg);
    jsonBox.textContent = JSON.stringify(definition, null, 2);
  };
  show(sm.definition, sm.graph);
  const versionRows = versions.map((v) => h("tr", { "data-revision": v.revision },
    h("td", {}, `#${v.revision}`), h("td", {}, fmtTime(v.creationDate)),
    h("td", {}, h("button", { class: "link", onclick: () => {
      show(v.definition, v.graph);
      versionLabel.textContent = `showing revision #${v.revision}`;
    } }, "show"))));
  const versionLabel = h("span", { class: "muted" }, `revision #${sm.revisionId} (latest)`);
  return h("div", {},
    title(name, h("a", { class: "button", href: `#/executions?stateMachine=${enc(name)}` }, "Executions"), versionLabel),
    h("div", { class: "meta" }, kvTable({ ARN: sm.stateMachineArn, Type: sm.type, Role: sm.roleArn, Created: fmtTime(sm.creationDate), Updated: fmtTime(sm.updateDate) })),
    h("div", { class: "two-col" },
      section("Graph", graphBox),
      section("Definition", jsonBox)),
    section("Versions", table(["Revision", "Created", ""], versionRows, { id: "versions" })));
}
// -- executions ---------------------------------------------------------------------------
async function executionsPage(params) {
  const q = new URLSearchParams();
  const smName = params.get("stateMachine") || "", status = params.get("status") || "";
  if (smName) q.set("stateMachine", smName);
  if (status) q.set("status", status);
  const [{ stateMachines }, first] = await Promise.all([api("/api/state-machines"), api(`/api/executions?${q}`)]);
  const body = h("tbody", {});
  const fill = (executions) => body.replaceChildren(...executions.map((e) => h("tr", { "data-name": e.name },
    h("td", {}, h("a", { href: `#/executions/${enc(e.executionArn)}` }, e.name)),
    h("td", {}, h("a", { href: `#/workflows/${enc(e.stateMachineName)}` }, e.stateMachineName)),
    h("td", {}, badge(e.status)), h("td", {}, fmtTime(e.startDate)),
    h("td", {}, fmtDuration(e.durationMs)), h("td", {}, e.redriveCount ? `${e.redriveCount}` : ""))));
  fill(first.executions);
  every(2000, async () => { try { fill((await api(`/api/executions?${q}`)).executions); } catch { /* next tick */ } }, body);
  const go = () => {
    const p = new URLSearchParams();
    if (smSel.value) p.set("stateMachine", smSel.value);
    if (stSel.value) p.set("status", stSel.value);
    location.hash = `#/executions${p.toString() ? "?" + p : ""}`;
  };
  const smSel = h("select", { id: "filter-workflow", onchange: go }, h("option", { value: "" }, "All workflows"),
    stateMachines.map((sm) => h("option", { value: sm.name, selected: sm.name === smName }, sm.name)));
  const stSel = h("select", { id: "filter-status", onchange: go }, h("option", { value: "" }, "Any status"),
    EXEC_STATUSES.map((x) => h("option", { value: x, selected: x === status }, x)));
  // Start form.
  const startSm = h("select", { id: "start-workflow" }, stateMachines.map((sm) => h("option", { value: sm.name, selected: sm.name === smName }, sm.name)));
  const startName = h("input", { id: "start-name", placeholder: "name (optional)" });
  const startInput = h("textarea", { id: "start-input", rows: 3, spellcheck: "false" }, "{}");
  const startMsg = h("span", { class: "form-msg" });
  const startForm = h("form", { class: "start-form", onsubmit: async (ev) => {
    ev.preventDefault();
    let input;
    try { input = JSON.parse(startInput.value || "null"); } catch (err) { startMsg.textContent = `Input is not JSON: ${err.message}`; return; }
    try {
      const res = await post("/api/executions", { stateMachine: startSm.value, input, name: startName.value || null });
      location.hash = `#/executions/${enc(res.executionArn)}`;
    } catch (err) { startMsg.textContent = err.message; }
  } }, h("label", {}, "Workflow ", startSm), h("label", {}, "Name ", startName),
  h("label", { class: "grow" }, "Input ", startInput), h("button", { type: "submit", disabled: !stateMachines.length }, "Start execution"), startMsg);
  return h("div", {}, title("Executions"),
    h("details", { class: "card start" }, h("summary", {}, "Start an execution"), startForm),
    h("section", { class: "card" }, h("div", { class: "filters" }, smSel, stSel),
      first.executions.length || smName || status
        ? h("table", { id: "executions" }, h("thead", {}, h("tr", {}, ["Name", "Workflow", "Status", "Started", "Duration", "Redrives"].map((x) => h("th", {}, x)))), body)
        : empty("No executions yet.")));
}

async function executionPage(ref) {
  let data = await api(`/api/executions/${enc(ref)}/progress`);
  const arn = data.execution.executionArn;
  let selected = null;
  const detail = h("aside", { class: "state-detail", id: "state-detail" }, empty("Click a state to see its input, output, error and timing."));
  const graph = drawGraph(data.graph, (id) => { selected = id; graph.select(id); renderDetail(); });
  const head = h("div", { class: "exec-head" });
  const msg = h("span", { class: "form-msg" });
  const stopBtn = h("button", { id: "stop", class: "danger", onclick: async () => {
    try { await post(`/api/executions/${enc(arn)}/stop`); await refresh(); } catch (err) { msg.textContent = err.message; }
  } }, "Stop");
  const redriveBtn = h("button", { id: "redrive", onclick: async () => {
    try { await post(`/api/executions/${enc(arn)}/redrive`); await refresh(); } catch (err) { msg.textContent = err.message; }
  } }, "Redrive");
  const histBody = h("tbody", {});
  let lastEvent = 0;
  const stepOf = {};
  const startTs = Date.parse(data.execution.startDate);
  const io = h("div", { class: "two-col" });

  function renderHead() {
    const e = data.execution;
    head.replaceChildren(...[
      kvTable({ Status: badge(e.status), Workflow: h("a", { href: `#/workflows/${enc(e.stateMachineName)}` }, `${e.stateMachineName} (revision ${data.revision})`),
        Started: fmtTime(e.startDate), Stopped: fmtTime(e.stopDate), Duration: fmtDuration(e.durationMs),
        Redrives: e.redriveCount || 0, ARN: e.executionArn }, { id: "exec-summary" }),
      e.error || e.cause ? h("div", { class: "error-box" }, h("strong", {}, e.error || "Error"), h("pre", {}, pretty(e.cause))) : null,
    ].filter(Boolean));
    stopBtn.disabled = e.status !== "RUNNING";
    redriveBtn.disabled = e.redriveStatus !== "REDRIVABLE";
    io.replaceChildren(section("Execution input", h("pre", { class: "json" }, pretty(e.input))),
      section("Execution output", e.output !== undefined ? h("pre", { class: "json" }, pretty(e.output)) : empty(e.status === "RUNNING" ? "Not finished yet." : "No output.")));
  }
  function renderDetail() {
    if (!selected) return;
    const node = data.graph.nodes.find((n) => n.id === selected);
    const st = data.states[selected];
    const parts = [h("h3", {}, node ? node.name : selected, " ", h("span", { class: "muted" }, node ? node.type : ""))];
    if (!st) {
      parts.push(h("p", { class: `pill st-not_run` }, "not run"), empty("This state has not run in this execution."));
    } else {
      parts.push(h("p", { class: `pill st-${st.status}`, id: "detail-status" }, STATUS_LABELS[st.status] || st.status));
      parts.push(kvTable({ Entered: fmtTime(st.enteredAt), Exited: fmtTime(st.exitedAt), Duration: fmtDuration(st.durationMs),
        Runs: st.visits, Retries: st.retries || 0 }));
      if (st.error || st.cause) parts.push(h("h4", {}, "Error"), h("div", { class: "error-box", id: "detail-error" }, h("strong", {}, st.error || ""), h("pre", {}, pretty(st.cause))));
      parts.push(h("h4", {}, "Input"), h("pre", { class: "json", id: "detail-input" }, pretty(st.input) || "—"));
      parts.push(h("h4", {}, "Output"), h("pre", { class: "json", id: "detail-output" }, st.output != null ? pretty(st.output) : "—"));
      if (st.iterations) {
        parts.push(h("h4", {}, `Iterations (${st.iterations.length})`), table(["#", "Status", "Duration", "Error"], st.iterations.map((it) =>
          h("tr", {}, h("td", {}, it.index ?? ""), h("td", {}, h("span", { class: `pill st-${it.status}` }, STATUS_LABELS[it.status])),
            h("td", {}, it.exitedAt && it.enteredAt ? fmtDuration((it.exitedAt - it.enteredAt) * 1000) : "—"), h("td", {}, it.error || "")))));
      }
    }
    detail.replaceChildren(...parts);
  }
  async function loadHistory() {
    const { events } = await api(`/api/executions/${enc(arn)}/history?after=${lastEvent}`);
    for (const ev of events) {
      if (ev.id <= lastEvent) continue;  // a poll and a button's refresh can overlap
      lastEvent = ev.id;
      const key = Object.keys(ev).find((k) => k.endsWith("EventDetails"));
      const det = key ? ev[key] : null;
      // Events without a state name belong to the state their previousEventId chain began in.
      const step = det && det.name !== undefined ? det.name : (stepOf[ev.previousEventId] || "");
      if (!ev.type.startsWith("Execution")) stepOf[ev.id] = step;
      const extra = det ? { ...det } : null;
      if (extra) delete extra.name;
      const since = Date.parse(ev.timestamp) - startTs;
      histBody.append(h("tr", { "data-type": ev.type },
        h("td", {}, ev.id), h("td", { class: ev.type.match(/Failed|TimedOut|Aborted/) ? "ev-fail" : ev.type.match(/Succeeded|Exited/) ? "ev-ok" : "" }, ev.type),
        h("td", {}, step), h("td", {}, fmtTime(ev.timestamp)), h("td", { class: "num" }, isNaN(since) ? "" : `${since} ms`),
        h("td", {}, extra && Object.keys(extra).length ? h("details", {}, h("summary", {}, summarise(extra)), h("pre", { class: "json" }, JSON.stringify(expandJson(extra), null, 2))) : "")));
    }
  }
  async function refresh() {
    data = await api(`/api/executions/${enc(arn)}/progress`);
    graph.paint(data.states);
    renderHead(); renderDetail();
    await loadHistory();
  }
  graph.paint(data.states);
  renderHead();
  await loadHistory();
  // Poll while the execution runs; a stop or redrive watches again until it settles.
  let watch = data.execution.status === "RUNNING";
  every(700, async () => {
    if (!watch) return;
    try { await refresh(); watch = data.execution.status === "RUNNING"; } catch { /* next tick */ }
  }, histBody);
  for (const b of [stopBtn, redriveBtn]) b.addEventListener("click", () => { watch = true; });
  return h("div", { class: "execution", "data-arn": arn },
    title(data.execution.name, stopBtn, redriveBtn, msg),
    h("div", { class: "card" }, head),
    h("div", { class: "graph-layout" },
      h("section", { class: "card graph-card" }, h("h2", {}, "Graph"), legend(), h("div", { class: "graph-box", id: "exec-graph" }, graph.svg)),
      h("section", { class: "card detail-card" }, h("h2", {}, "State"), detail)),
    io,
    section("Event history", h("table", { id: "history", class: "history" }, h("thead", {}, h("tr", {}, ["ID", "Type", "Step", "Timestamp", "Since start", "Details"].map((x) => h("th", {}, x)))), histBody)));
}
function summarise(obj) {
  const t = JSON.stringify(obj);
  return t.length > 90 ? t.slice(0, 90) + "…" : t;
}
function expandJson(obj) {
  const out = {};
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v === "string" && /^[[{"]/.test(v)) { try { out[k] = JSON.parse(v); continue; } catch { /* keep text */ } }
    out[k] = v;
  }
  return out;
}

// -- jobs ---------------------------------------------------------------------------------
async function jobsPage() {
  const { jobs } = await api("/api/jobs");
  const rows = jobs.map((j) => h("tr", {},
    h("td", {}, h("a", { href: `#/jobs/${enc(j.Kind)}/${enc(j.JobName)}` }, j.JobName)),
    h("td", {}, j.Kind), h("td", {}, badge(j.Status)), h("td", {}, j.SecondaryStatus || ""),
    h("td", {}, fmtTime(j.CreationTime)), h("td", {}, fmtTime(j.EndTime)), h("td", { class: "muted" }, j.FailureReason || "")));
  return h("div", {}, title("Jobs"), h("section", { class: "card" }, jobs.length
    ? table(["Name", "Kind", "Status", "Phase", "Created", "Ended", "Failure"], rows, { id: "jobs" })
    : empty("No jobs yet.")));
}
function jobSummary(job) {
  const r = job.request, d = job.describe, l = job.local;
  const spec = r.AlgorithmSpecification || {}, app = r.AppSpecification || {};
  const res = r.ResourceConfig || (r.ProcessingResources || {}).ClusterConfig || r.TransformResources || {};
  const inputs = [];
  for (const c of r.InputDataConfig || []) inputs.push(`${c.ChannelName}: ${((c.DataSource || {}).S3DataSource || {}).S3Uri || JSON.stringify(c.DataSource)}`);
  for (const p of r.ProcessingInputs || []) inputs.push(`${p.InputName}: ${(p.S3Input || {}).S3Uri || JSON.stringify(p)}`);
  if (r.TransformInput) inputs.push(((r.TransformInput.DataSource || {}).S3DataSource || {}).S3Uri);
  const outputs = [];
  if (r.OutputDataConfig) outputs.push(`output path: ${r.OutputDataConfig.S3OutputPath}`);
  if (d.ModelArtifacts) outputs.push(`model: ${d.ModelArtifacts.S3ModelArtifacts}`);
  for (const o of (r.ProcessingOutputConfig || {}).Outputs || []) outputs.push(`${o.OutputName}: ${(o.S3Output || {}).S3Uri}`);
  if (r.TransformOutput) outputs.push(r.TransformOutput.S3OutputPath);
  const image = l.Image || {};
  // A sandboxed run's argv is the sandbox's; the container's command follows its last "--".
  const cut = l.Argv ? l.Argv.lastIndexOf("--") : -1;
  const cmd = l.Argv ? (cut >= 0 ? l.Argv.slice(cut + 1) : l.Argv) : null;
  return {
    Status: h("span", {}, badge(job.status), " ", job.secondaryStatus || ""),
    "Failure reason": d.FailureReason,
    ARN: job.arn,
    Kind: job.kind,
    Image: spec.TrainingImage || app.ImageUri || image.uri || r.ModelName,
    "Image digest": image.digest,
    "Image ref": image.ref,
    Runtime: [l.Runtime, l.Sandboxed === true ? "sandboxed" : l.Sandboxed === false ? "not sandboxed" : null].filter(Boolean).join(", "),
    Role: r.RoleArn,
    "Instance type": res.InstanceType ? `${res.InstanceType} × ${res.InstanceCount || 1}` : null,
    "Local resources": l.Resources,
    "Resource notes": l.ResourceNotes && l.ResourceNotes.length ? l.ResourceNotes.join("\n") : null,
    Created: fmtTime(job.created), Started: fmtTime(job.started), Ended: fmtTime(job.ended),
    Duration: job.durationSeconds != null ? fmtDuration(job.durationSeconds * 1000) : null,
    "Input URIs": inputs.length ? inputs.join("\n") : null,
    "Output URIs": outputs.length ? outputs.join("\n") : null,
    Entrypoint: l.Entrypoint || app.ContainerEntrypoint || spec.ContainerEntrypoint || null,
    Arguments: l.Arguments || app.ContainerArguments || spec.ContainerArguments || null,
    "Command (in container)": cmd ? cmd.join(" ") : null,
    "Runtime command": l.Argv && l.Argv.length !== (cmd || []).length
      ? h("details", {}, h("summary", {}, `${l.Argv[0]} … (${l.Argv.length} arguments)`), h("pre", { class: "json" }, l.Argv.join(" "))) : null,
    "Exit code": l.ExitCode,
    Hyperparameters: r.HyperParameters,
    Environment: l.Environment || r.Environment,
    "Job folder": l.Folder,
  };
}
async function jobPage(kind, name) {
  const base = `/api/jobs/${enc(kind)}/${enc(name)}`;
  let job = await api(base);
  const summary = h("div", { id: "job-summary" });
  const full = h("div", { id: "job-record" });
  const chartsBox = h("div", { class: "charts", id: "job-metrics" });
  const logPre = h("pre", { class: "logs", id: "job-logs" });
  const logState = h("span", { class: "muted", id: "log-state" });
  let offset = 0, seenMetrics = -1;
  const render = () => {
    summary.replaceChildren(kvTable(jobSummary(job)));
    full.replaceChildren(h("h3", {}, "Describe"), kvTable(job.describe), h("h3", {}, "Local details"), kvTable(job.local), h("h3", {}, "Request"), kvTable(job.request));
  };
  async function loadLogs() {
    for (let i = 0; i < 20; i++) {
      const chunk = await api(`${base}/logs?offset=${offset}`);
      if (chunk.text) {
        const atBottom = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 8;
        logPre.append(chunk.text);
        if (atBottom) logPre.scrollTop = logPre.scrollHeight;
      }
      offset = chunk.nextOffset;
      logState.textContent = chunk.complete ? `${chunk.size} bytes · complete` : `${chunk.size} bytes · following…`;
      if (chunk.nextOffset >= chunk.size) return chunk.complete;
    }
    return false;
  }
  async function loadMetrics() {
    const { metrics } = await api(`${base}/metrics`);
    const count = Object.values(metrics).reduce((a, v) => a + v.length, 0);
    if (count === seenMetrics) return;
    seenMetrics = count;
    charts.forEach((c) => c.destroy()); charts = [];
    chartsBox.replaceChildren();
    if (!count) { chartsBox.append(empty("No metrics recorded (define MetricDefinitions to extract them from the log).")); return; }
    for (const [metric, points] of Object.entries(metrics)) {
      const box = h("div", { class: "chart", "data-metric": metric }, h("h4", {}, metric, h("span", { class: "muted" }, `  last ${points[points.length - 1][1]}`)));
      chartsBox.append(box);
      const width = Math.max(260, Math.min(460, (chartsBox.clientWidth || 900) / 2 - 24));
      charts.push(new uPlot({ width, height: 180, legend: { show: false }, cursor: { points: { size: 6 } },
        scales: { x: { time: true } },
        series: [{}, { label: metric, stroke: "#2563eb", width: 2, points: { show: true, size: 5, fill: "#2563eb" } }],
        axes: [{ stroke: "#6b7280" }, { stroke: "#6b7280", size: 56 }] },
      [points.map((p) => p[0]), points.map((p) => p[1])], box));
    }
  }
  render();
  const page = h("div", { class: "job", "data-job": name },
    title(name, badge(job.status)),
    section("Summary", summary),
    section("Metrics", chartsBox),
    h("section", { class: "card" }, h("h2", {}, "Logs ", logState), logPre),
    h("details", { class: "card" }, h("summary", {}, "Full record"), full));
  setTimeout(async () => {
    await loadMetrics().catch(() => {});
    let done = await loadLogs().catch(() => false);
    if (done && job.status.match(/Completed|Failed|Stopped/)) return;
    every(1000, async () => {
      if (done) return;
      try {
        job = await api(base); render();
        page.querySelector(".page-title .badge").replaceWith(badge(job.status));
        await loadMetrics();
        done = (await loadLogs()) && !!job.status.match(/Completed|Failed|Stopped/);
      } catch { /* retry */ }
    }, page);
  }, 0);
  return page;
}

// -- serving ------------------------------------------------------------------------------
async function endpointsPage() {
  const { endpoints } = await api("/api/endpoints");
  const cards = endpoints.map((ep) => {
    const box = h("section", { class: "card", "data-endpoint": ep.EndpointName },
      h("h2", {}, ep.EndpointName, " ", badge(ep.EndpointStatus)),
      kvTable({ ARN: ep.EndpointArn, Config: ep.EndpointConfigName, Created: fmtTime(ep.CreationTime), Modified: fmtTime(ep.LastModifiedTime), Failure: ep.FailureReason }),
      h("h3", {}, "Variants"),
      (ep.ProductionVariants || []).length
        ? table(["Variant", "Model", "Instances", "Weight"], ep.ProductionVariants.map((v) => h("tr", {},
          h("td", {}, v.VariantName), h("td", {}, v.ModelName || ""), h("td", {}, `${v.CurrentInstanceCount ?? v.InitialInstanceCount ?? ""} ${v.InstanceType || ""}`),
          h("td", {}, v.CurrentWeight ?? v.InitialVariantWeight ?? ""))))
        : empty("No variants."));
    const metrics = ep.Metrics || {};
    const chartsBox = h("div", { class: "charts" });
    box.append(h("h3", {}, "Invocation metrics"), Object.keys(metrics).length ? chartsBox : empty("No invocations yet."));
    setTimeout(() => {
      for (const [m, pts] of Object.entries(metrics)) {
        const c = h("div", { class: "chart" }, h("h4", {}, m));
        chartsBox.append(c);
        charts.push(new uPlot({ width: 420, height: 160, legend: { show: false }, series: [{}, { stroke: "#2563eb", width: 2 }] },
          [pts.map((p) => p[0]), pts.map((p) => p[1])], c));
      }
    }, 0);
    return box;
  });
  return h("div", {}, title("Endpoints"), cards.length ? h("div", { id: "endpoints" }, cards)
    : h("section", { class: "card", id: "endpoints" }, empty("No endpoints. Endpoints appear here once models are deployed.")));
}
async function modelsPage() {
  const { models } = await api("/api/models");
  const rows = models.map((m) => h("tr", {}, h("td", {}, m.ModelName), h("td", {}, ((m.PrimaryContainer || {}).Image) || ""),
    h("td", {}, ((m.PrimaryContainer || {}).ModelDataUrl) || ""), h("td", {}, fmtTime(m.CreationTime))));
  return h("div", {}, title("Models"), h("section", { class: "card" }, models.length
    ? table(["Name", "Image", "Model data", "Created"], rows, { id: "models" })
    : empty("No models yet.")));
}
