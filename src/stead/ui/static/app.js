// The stead dashboard: plain DOM over the JSON API (no build step). Every value from a run is set as text.
"use strict";

const app = document.getElementById("app");
let stopPage = () => {};

// -- helpers ------------------------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: {} };
  if (options.body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  } else if (options.method) {
    init.method = options.method;
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (data.error && data.error.message) || `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return data;
}

function toast(text, bad = false) {
  const el = h("div", { class: "toast" + (bad ? " bad" : ""), role: "status", text });
  document.body.append(el);
  setTimeout(() => el.remove(), 5000);
}

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(2)} s`;
  const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
  if (m < 60) return `${m}m ${String(s).padStart(2, "0")}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

function fmtAge(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.floor(seconds)}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

function fmtTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

function fmtTokens(n) {
  if (!n) return "–";
  if (n < 10000) return n.toLocaleString();
  if (n < 1e6) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1e6).toFixed(2)}M`;
}

function fmtCost(usd) {
  if (!usd) return "–";
  return usd >= 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(6)}`;
}

function badge(status) {
  return h("span", { class: `badge s-${status}`, text: status });
}

function short(value, limit = 90) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length <= limit ? text : text.slice(0, limit - 1) + "…";
}

function pretty(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function callText(run) {
  const args = (run.args && run.args.args) || [];
  const kwargs = (run.args && run.args.kwargs) || {};
  const parts = args.map((a) => JSON.stringify(a)).concat(Object.entries(kwargs).map(([k, v]) => `${k}=${JSON.stringify(v)}`));
  return `${run.workflow}(${parts.join(", ")})`;
}

function cli(text) {
  return h("code", { class: "cli", title: "the same from a terminal", text });
}

function every(ms, fn) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try { await fn(); } catch (err) { console.warn(err); }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => { stopped = true; clearTimeout(timer); };
}

function navigate(path) {
  history.pushState(null, "", path);
  route();
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || link.target || event.metaKey || event.ctrlKey || event.button !== 0) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", route);

// -- the run list -------------------------------------------------------------------------------------------

const STATUSES = ["all", "running", "waiting", "pending", "completed", "failed", "cancelled"];

function runsPage() {
  const params = new URLSearchParams(location.search);
  const state = { status: params.get("status") || "all", q: params.get("q") || "", workflow: params.get("workflow") || "", cursors: [] };
  const body = h("tbody");
  const pager = h("div", { class: "pager" });
  const live = h("span", { class: "live", text: "live" });
  const chips = h("div", { class: "chips", role: "tablist" });
  for (const s of STATUSES) {
    chips.append(h("button", {
      class: "chip" + (s === state.status ? " on" : ""), "data-status": s, text: s,
      onclick: () => { state.status = s; state.cursors = []; syncUrl(); render(); load(); },
    }));
  }
  const search = h("input", { type: "search", placeholder: "Search run id, arguments, waits…", value: state.q, "aria-label": "search" });
  const workflow = h("input", { type: "text", placeholder: "workflow", value: state.workflow, size: 14, "aria-label": "workflow" });
  let typing = null;
  const onType = () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.q = search.value.trim(); state.workflow = workflow.value.trim(); state.cursors = []; syncUrl(); load(); }, 250);
  };
  search.addEventListener("input", onType);
  workflow.addEventListener("input", onType);

  function syncUrl() {
    const p = new URLSearchParams();
    if (state.status !== "all") p.set("status", state.status);
    if (state.q) p.set("q", state.q);
    if (state.workflow) p.set("workflow", state.workflow);
    history.replaceState(null, "", "/" + (p.toString() ? "?" + p : ""));
  }
  function render() {
    for (const chip of chips.children) chip.classList.toggle("on", chip.dataset.status === state.status);
  }

  async function load() {
    const p = new URLSearchParams({ limit: "50" });
    if (state.status !== "all") p.set("status", state.status);
    if (state.q) p.set("q", state.q);
    if (state.workflow) p.set("workflow", state.workflow);
    const cursor = state.cursors[state.cursors.length - 1];
    if (cursor) p.set("cursor", cursor);
    const data = await api(`/api/runs?${p}`);
    fill(body, ...(data.runs.length ? data.runs.map(runRow) : [h("tr", {}, h("td", { colspan: 9, class: "empty", text: "No runs match. Start one with: stead run FILE.py:WORKFLOW ARGS" }))]));
    fill(pager,
      state.cursors.length ? h("button", { class: "btn", text: "← Newest", onclick: () => { state.cursors = []; load(); } }) : null,
      data.next_cursor ? h("button", { class: "btn", text: "Older →", onclick: () => { state.cursors.push(data.next_cursor); load(); } }) : null,
    );
    live.hidden = state.cursors.length > 0;
  }

  fill(app,
    h("div", { class: "toolbar" }, chips, search, workflow, live),
    h("table", { class: "runs" },
      h("thead", {}, h("tr", {},
        h("th", { text: "Status" }), h("th", { text: "Run" }), h("th", { text: "Workflow" }), h("th", { text: "Started" }),
        h("th", { class: "num", text: "Duration" }), h("th", { class: "num", text: "Steps" }), h("th", { class: "num", text: "Tokens" }),
        h("th", { class: "num", text: "Cost" }), h("th", { text: "Waiting for" }))),
      body),
    pager,
  );
  load().catch((err) => toast(err.message, true));
  return every(2000, () => (state.cursors.length ? null : load()));
}

function waitText(run, name) {
  // "approval:call_1" reads better as what the person is asked to approve.
  if (!name.startsWith("approval:")) return `message ${name}`;
  const callId = name.slice("approval:".length);
  const pending = ((run.state && run.state.approvals) || []).find((a) => a && a.call_id === callId);
  return pending && pending.tool ? `approval of ${pending.tool}` : `approval of ${callId}`;
}

function runRow(run) {
  const usage = run.usage || {};
  const href = `/runs/${encodeURIComponent(run.run_id)}`;
  return h("tr", { class: "row", "data-run": run.run_id, onclick: (e) => { if (!e.target.closest("a")) navigate(href); } },
    h("td", {}, badge(run.display_status)),
    h("td", {}, h("a", { href, class: "mono", text: run.run_id }), h("div", { class: "args", title: callText(run), text: callText(run) })),
    h("td", { text: run.workflow }),
    h("td", { title: fmtTime(run.created_at), text: fmtAge(run.created_at) }),
    h("td", { class: "num", text: fmtDuration(run.duration) }),
    h("td", { class: "num", text: run.steps }),
    h("td", { class: "num", text: fmtTokens(usage.total_tokens) }),
    h("td", { class: "num", text: fmtCost(usage.cost_usd) }),
    h("td", { class: "wait-for", title: run.waiting_for.join(", "), text: run.waiting_for.map((name) => waitText(run, name)).join(", ") }),
  );
}

// -- a run --------------------------------------------------------------------------------------------------

function runPage(runId) {
  const view = { run: null, selected: null, tab: "conversation", streams: new Map(), source: null, refreshing: false, details: new Map() };
  const header = h("section", { class: "panel", id: "run-header" });
  const timeline = h("section", { class: "panel", id: "timeline" });
  const left = h("section", { class: "panel", id: "left" });
  const inspector = h("section", { class: "panel inspector sticky", id: "inspector" });
  fill(app, header, timeline, h("div", { class: "grid2" }, left, h("div", {}, inspector)));

  async function refresh() {
    if (view.refreshing) return;
    view.refreshing = true;
    let text;
    try {
      const run = await api(`/api/runs/${encodeURIComponent(runId)}?include=steps,conversation`);
      text = JSON.stringify({ ...run, duration: null });
      view.run = run;
    } catch (err) {
      fill(header, h("div", { class: "error-box", text: err.message }));
      return;
    } finally {
      view.refreshing = false;
    }
    // A running run's bars grow with time; a finished run's timeline is redrawn only when the run changed.
    const finished = ["completed", "failed", "cancelled"].includes(view.run.status);
    if (!finished || text !== view.last) renderTimeline(timeline, view.run, view, select);
    // Redraw the rest only when the run changed, so that what a person types in a form survives the refresh.
    if (text !== view.last) {
      view.last = text;
      renderHeader(header, view.run, refresh);
      renderLeft();
      renderInspector(inspector, view.run, view.selected, view);
    }
    connectEvents();
  }

  function select(position) {
    view.selected = position;
    renderTimeline(timeline, view.run, view, select);
    renderInspector(inspector, view.run, position, view);
  }

  function renderLeft() {
    const tabs = h("div", { class: "tabs" });
    const pane = h("div");
    const options = [["conversation", "Conversation"], ["live", "Live output"], ["state", "Published state"]];
    for (const [key, label] of options) {
      tabs.append(h("button", { class: "tab" + (view.tab === key ? " on" : ""), "data-tab": key, text: label, onclick: () => { view.tab = key; view.autoLive = false; renderLeft(); } }));
    }
    if (view.tab === "conversation") pane.append(renderConversation(view.run, select, refresh));
    else if (view.tab === "live") pane.append(renderStreams(view));
    else pane.append(Object.keys(view.run.state || {}).length ? h("pre", { class: "json", text: pretty(view.run.state) }) : h("div", { class: "sub", text: "The run published nothing (stead.publish)." }));
    fill(left, tabs, pane);
  }

  function connectEvents() {
    const finished = ["completed", "failed", "cancelled"].includes(view.run.status);
    if (view.source || finished) return;
    // EventSource reconnects by itself and sends Last-Event-ID, so the stream resumes where it broke off.
    const source = new EventSource(`/api/runs/${encodeURIComponent(runId)}/events`);
    view.source = source;
    source.onmessage = (message) => {
      const event = JSON.parse(message.data);
      onEvent(view, event);
      if (view.tab === "live") renderLeft();
      if (event.kind === "step_done" || event.kind === "attempt_failed") refresh();
    };
    source.addEventListener("end", () => { source.close(); refresh(); });
    source.addEventListener("unsupported", () => source.close());
  }

  refresh();
  const stop = every(1500, refresh);
  return () => { stop(); if (view.source) view.source.close(); };
}

function onEvent(view, event) {
  const key = `${event.position}#${event.attempt}`;
  let entry = view.streams.get(key);
  if (!entry) {
    entry = { position: event.position, attempt: event.attempt, label: event.position, text: "", state: "live", note: null };
    view.streams.set(key, entry);
  }
  // A later attempt voids what an earlier attempt of the step streamed and did not finish (its worker died,
  // or it failed without saying so).
  for (const other of view.streams.values()) {
    if (other.position === event.position && other.attempt < event.attempt && other.state === "live") {
      other.state = "retracted";
      other.note = `attempt ${other.attempt} was cut off — its text is retracted`;
    }
  }
  if (event.kind === "attempt_started") {
    entry.label = (event.data && (event.data.summary || event.data.name)) || event.position;
  } else if (event.kind === "text") {
    entry.text += String(event.data);
    if (view.tab !== "live" && entry.text.length === String(event.data).length) {
      view.tab = "live";
      view.autoLive = true; // switched by the page, not the person: it switches back when the stream ends
    }
  } else if (event.kind === "attempt_failed") {
    entry.state = "retracted";
    const error = event.data && event.data.error;
    entry.note = `attempt ${event.attempt} failed${error ? ": " + error : ""} — its text is retracted`;
  } else if (event.kind === "step_done") {
    entry.state = "done";
    if (view.autoLive && view.tab === "live") {
      view.tab = "conversation";
      view.autoLive = false;
    }
  }
}

function renderStreams(view) {
  const entries = [...view.streams.values()].filter((e) => e.text || e.state === "retracted");
  if (!entries.length) {
    return h("div", { class: "sub", text: "Tokens of the model call in flight appear here as they arrive." });
  }
  return h("div", { id: "streams" }, entries.map((e) => h("div", { class: `stream ${e.state === "live" ? "live-now" : e.state}`, "data-state": e.state },
    h("div", { class: "label", text: `${e.label}${e.attempt > 1 ? ` · attempt ${e.attempt}` : ""}` }),
    h("div", { class: "text" }, e.text, e.state === "live" ? h("span", { class: "caret" }) : null),
    e.note ? h("div", { class: "note", text: e.note }) : null,
  )));
}

function renderHeader(el, run, refresh) {
  const usage = run.usage || {};
  const facts = [
    ["Started", fmtAge(run.created_at), fmtTime(run.created_at)],
    ["Duration", fmtDuration(run.duration)],
    ["Steps", String(run.steps)],
    ["Model calls", String(usage.calls || 0)],
    ["Tokens", fmtTokens(usage.total_tokens), usage.total_tokens ? `${usage.input_tokens} in · ${usage.output_tokens} out` : null],
    ["Cost", fmtCost(usage.cost_usd) + (usage.unpriced && usage.unpriced.length ? " + unpriced" : "")],
  ];
  const budget = run.budget || {};
  const outcome = [];
  if (run.status === "completed") {
    outcome.push(h("div", { class: "k", text: "result" }), h("div", { class: "result-box" }, h("pre", { text: pretty(run.result) })));
  } else if (run.error) {
    outcome.push(h("div", { class: "k", text: "error" }), h("div", { class: "error-box" },
      h("strong", { text: `${run.error.type}: ${run.error.message}` }),
      run.error.details ? h("details", {}, h("summary", { text: "traceback" }), h("pre", { text: run.error.details })) : null));
  }
  fill(el,
    h("h1", {}, h("span", { class: "mono", text: run.run_id }), badge(run.display_status)),
    h("div", { class: "sub" }, `workflow `, h("strong", { text: run.workflow }), run.source ? ` · ${run.source}` : ""),
    h("div", { class: "facts" }, facts.map(([k, v, title]) => h("div", { class: "fact", title }, h("div", { class: "k", text: k }), h("div", { class: "v", text: v }))),
      budgetFacts(budget)),
    h("div", { class: "kv" },
      h("div", { class: "k", text: "call" }), h("pre", { text: callText(run) }),
      run.waiting_for.length ? [h("div", { class: "k", text: "waiting for" }), h("div", { class: "wait-for", title: run.waiting_for.join(", "), text: run.waiting_for.map((name) => waitText(run, name)).join(", ") })] : null,
      outcome),
    usageTable(usage),
    controls(run, refresh),
  );
}

function budgetFacts(budget) {
  // The run's stead.budget: what is left of each limit, with the limit and what is used beside it.
  const out = [];
  for (const [key, label, fmt] of [["tokens", "tokens", (n) => (n || 0).toLocaleString()], ["cost_usd", "cost", (n) => `$${(n || 0).toFixed(n >= 0.01 || !n ? 4 : 6)}`]]) {
    const b = budget[key];
    if (!b) continue;
    const used = b.used === null ? "" : `${fmt(b.used)} used of `;
    out.push(h("div", { class: "fact budget" + (b.left === 0 ? " spent" : ""), "data-limit": key, title: `stead.budget limit: ${fmt(b.limit)}` },
      h("div", { class: "k", text: `budget left (${label})` }),
      h("div", { class: "v", text: b.left === null ? "–" : fmt(b.left) }),
      h("div", { class: "sub", text: `${used}${fmt(b.limit)}` })));
  }
  return out;
}

function usageTable(usage) {
  if (!usage.by_model || !usage.by_model.length) return null;
  return h("details", { class: "usage-details", open: usage.by_model.length > 1 },
    h("summary", { class: "sub", text: "usage per agent and model" }),
    h("table", { class: "usage" },
      h("thead", {}, h("tr", {}, ["agent", "model", "requests", "input", "cached", "output", "total"].map((c, n) => h("th", { class: n > 1 ? "num" : null, text: c })))),
      h("tbody", {}, usage.by_model.map((u) => h("tr", {},
        h("td", { text: u.agent }), h("td", { class: "mono", text: u.model }), h("td", { class: "num", text: u.requests }),
        h("td", { class: "num", text: u.input_tokens }), h("td", { class: "num", text: u.cached_input_tokens }),
        h("td", { class: "num", text: u.output_tokens }), h("td", { class: "num", text: u.total_tokens }))))));
}

function controls(run, refresh) {
  const id = encodeURIComponent(run.run_id);
  const act = async (path, body, done) => {
    try {
      const out = await api(`/api/runs/${id}/${path}`, { body: body || {} });
      toast(done + (out.cli ? `  ($ ${out.cli})` : ""));
      refresh();
    } catch (err) {
      toast(err.message, true);
    }
  };
  const parts = [];
  for (const approval of run.approvals || []) parts.push(approvalCard(approval, refresh));
  const box = h("div", { class: "controls" });
  const finished = ["completed", "failed", "cancelled"].includes(run.status);
  if (!finished) {
    const name = h("input", { type: "text", placeholder: "message name", value: (run.waiting_for.find((n) => !n.startsWith("approval:")) || ""), size: 14, "aria-label": "message name" });
    const payload = h("input", { type: "text", placeholder: "JSON payload", value: "", size: 22, "aria-label": "payload" });
    const cliLine = cli(`stead send ${run.run_id} NAME JSON`);
    box.append(h("div", { class: "control" },
      h("div", {}, name, " ", payload, " ", h("button", { class: "btn", id: "send", text: "Send", onclick: () => {
        let data = null;
        try { data = payload.value.trim() ? JSON.parse(payload.value) : null; } catch (err) { toast("the payload is not JSON: " + err.message, true); return; }
        act("messages", { name: name.value.trim(), payload: data }, "sent");
      } })), cliLine));
    box.append(h("div", { class: "control" }, h("button", { class: "btn danger", id: "cancel", text: "Cancel run", onclick: () => { if (confirm(`Cancel ${run.run_id}?`)) act("cancel", null, "cancel requested"); } }), cli(run.cli.cancel)));
  }
  if (run.status === "failed") {
    box.append(h("div", { class: "control" }, h("button", { class: "btn primary", id: "resume", text: "Resume", onclick: () => act("resume", null, "reopened: a worker continues it") }), cli(run.cli.resume)));
  }
  box.append(h("div", { class: "control" }, h("span", { class: "sub", text: "inspect" }), cli(run.cli.show)));
  return [parts, box];
}

function approvalCard(approval, refresh) {
  const id = encodeURIComponent(approval.run_id);
  const reason = h("input", { type: "text", placeholder: "reason (told to the model when rejected)", "aria-label": "reason" });
  const decide = async (verb) => {
    const body = { call_id: approval.call_id };
    if (verb === "reject" && reason.value.trim()) body.message = reason.value.trim();
    try {
      const out = await api(`/api/runs/${id}/${verb}`, { body });
      toast(`${verb === "approve" ? "approved" : "rejected"}  ($ ${out.cli})`);
      refresh();
    } catch (err) {
      toast(err.message, true);
    }
  };
  let args = approval.arguments;
  try { args = typeof args === "string" ? JSON.parse(args) : args; } catch (err) { /* shown as sent */ }
  return h("div", { class: "approval-card", "data-call": approval.call_id },
    h("div", { class: "what" }, `${approval.agent || "The agent"} wants to call `, h("code", { text: approval.tool || "a tool" }),
      h("span", { class: "sub", text: ` · ${approval.call_id}` })),
    args !== undefined && args !== null ? h("pre", { class: "mono", text: pretty(args) }) : null,
    h("div", { class: "row" },
      h("button", { class: "btn good", "data-action": "approve", text: "Approve", onclick: () => decide("approve") }),
      h("button", { class: "btn danger", "data-action": "reject", text: "Reject", onclick: () => decide("reject") }),
      reason),
    cli(approval.cli.approve), cli(approval.cli.reject + " -m WHY"));
}

// -- timeline -----------------------------------------------------------------------------------------------

function renderTimeline(el, run, view, select) {
  const steps = run.step_list || [];
  if (!steps.length) {
    fill(el, h("h2", { text: "Timeline" }), h("div", { class: "sub", text: "No steps recorded yet." }));
    return;
  }
  const now = Date.now();
  // The axis starts at the first step: the time a run waited for a worker is said, not drawn.
  const created = Date.parse(run.created_at);
  const t0 = Math.min(...steps.map((s) => Date.parse(s.started_at)));
  const queued = (t0 - created) / 1000;
  const ends = steps.map((s) => (s.finished_at ? Date.parse(s.finished_at) : now));
  const t1 = Math.max(run.finished_at ? Date.parse(run.finished_at) : now, ...ends, t0 + 1);
  const span = t1 - t0;
  const pct = (t) => `${Math.max(0, Math.min(100, ((t - t0) / span) * 100)).toFixed(3)}%`;

  // One lane per agent run / task branch; inside an agent run, one row per agent (handoffs change rows).
  const lanes = new Map();
  const labels = new Map((run.lanes || []).map((l) => [l.id, l]));
  for (const s of steps) {
    const key = `${s.lane}|${s.agent || ""}`;
    if (!lanes.has(key)) {
      const lane = labels.get(s.lane);
      const title = s.agent || (lane && !lane.agents.length ? lane.label : s.lane === "0" ? "workflow" : `task ${s.lane}`);
      lanes.set(key, { title, id: s.lane, steps: [] });
    }
    lanes.get(key).steps.push(s);
  }
  const ticks = h("div", { class: "ticks" });
  for (let i = 0; i <= 4; i++) {
    ticks.append(h("span", { class: "tick", style: `left:${i * 25}%`, text: fmtDuration((span / 1000) * (i / 4)) }));
  }
  const rows = [...lanes.values()].map((lane) => h("div", { class: "lane" },
    h("div", { class: "lane-label", title: `${lane.title} (${lane.id})` }, lane.title, h("span", { class: "lane-id", text: lane.id })),
    h("div", { class: "track" }, lane.steps.map((s) => {
      const start = Date.parse(s.started_at);
      const end = s.finished_at ? Date.parse(s.finished_at) : now;
      const left = pct(start);
      const width = `max(4px, calc(${pct(end)} - ${left}))`;
      const kind = ["model", "tool", "wait", "timer"].includes(s.kind) ? s.kind : "step";
      const retries = s.attempt_errors.length;
      const took = s.duration === null ? (now - start) / 1000 : s.duration;
      const tip = [`${s.label} · ${s.status} · ${fmtDuration(took)}`]
        .concat(s.attempts > 1 ? [`${s.attempts} attempts`] : [])
        .concat(s.attempt_errors.map((e, n) => `attempt ${n + 1}: ${e.type}: ${e.message}`))
        .join("\n");
      const text = s.kind === "model" ? "model" : s.kind === "tool" ? s.name.replace(/^tool:/, "") : s.label;
      return h("div", {
        class: `bar k-${kind} ${s.status}${view.selected === s.position ? " selected" : ""}`,
        style: `left:${left};width:${width}`, title: tip, "data-position": s.position, onclick: () => select(s.position),
      }, retries ? h("span", { class: "retries", text: `×${s.attempts}` }) : null, text);
    })),
  ));
  fill(el,
    h("h2", { text: "Timeline" }),
    queued > 0.05 ? h("div", { class: "sub queued", text: `first step ${fmtDuration(queued)} after the run started (waiting for a worker)` }) : null,
    h("div", { class: "waterfall" }, h("div", { class: "axis" }, h("div"), ticks), rows),
    h("div", { class: "legend" }, [["model", "var(--model)"], ["tool", "var(--tool)"], ["wait / approval", "var(--wait)"], ["step", "var(--step)"], ["failed", "var(--bad)"]]
      .map(([label, color]) => h("span", {}, h("i", { style: `background:${color}` }), label))),
  );
}

// -- conversation -------------------------------------------------------------------------------------------

function renderConversation(run, select, refresh) {
  const items = run.conversation || [];
  const pending = new Map((run.approvals || []).map((a) => [a.call_id, a]));
  const out = h("div", { class: "conv", id: "conversation" });
  for (const item of items) {
    const open = item.position ? { class: "clickable", onclick: () => select(item.output_position || item.position) } : {};
    if (item.type === "input") {
      out.append(h("div", { class: "msg user" }, h("div", { class: "who", text: "input" }), h("pre", { text: item.text })));
    } else if (item.type === "message") {
      if (item.agent) {
        out.append(h("div", { ...open, class: "msg agent clickable", "data-type": "message" }, h("div", { class: "who", text: item.agent }), h("pre", { text: item.text })));
      } else {
        out.append(h("div", { class: "msg user" }, h("div", { class: "who", text: `message ${item.name}${item.status === "pending" ? " (awaited)" : ""}` }), h("pre", { text: item.status === "pending" ? "…" : pretty(item.payload) })));
      }
    } else if (item.type === "handoff") {
      out.append(h("div", { ...open, class: "handoff clickable", "data-type": "handoff", text: `${item.agent} handed off to ${item.to}` }));
    } else if (item.type === "tool_call") {
      const args = item.arguments && typeof item.arguments === "object"
        ? Object.entries(item.arguments).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")
        : item.arguments === null ? "" : String(item.arguments);
      out.append(h("div", { ...open, class: "toolcall clickable", "data-type": "tool_call", "data-tool": item.tool },
        h("div", { class: "who sub", text: item.agent ? `${item.agent} · tool call` : "tool call" }),
        h("div", { class: "sig", text: `${item.tool}(${args})` }),
        item.error ? h("div", { class: "out", style: "color:var(--bad)", text: `${item.error.type}: ${item.error.message}` })
          : item.status === "done" ? h("pre", { class: "out", text: short(item.output, 600) })
            : h("div", { class: "out sub", text: item.status === "requested" ? "not run (yet)" : item.status })));
    } else if (item.type === "approval") {
      const waiting = pending.get(item.call_id);
      out.append(h("div", { class: "approval", "data-type": "approval", "data-decision": item.decision },
        h("div", {}, h("strong", { text: `Approval of ${item.tool || item.call_id}: ` }),
          item.decision === "pending" ? h("span", { class: "badge s-waiting", text: "waiting for a person" }) : badge(item.decision)),
        item.message ? h("div", { class: "sub", text: `“${item.message}”` }) : null,
        waiting ? h("div", { class: "sub", text: "Approve or reject it at the top of the page." }) : null));
    } else if (item.type === "reasoning") {
      out.append(h("div", { ...open, class: "msg agent clickable" }, h("div", { class: "who", text: `${item.agent} · reasoning` }), h("pre", { class: "sub", text: item.text })));
    } else if (item.type === "retry") {
      out.append(h("div", { ...open, class: "msg retry clickable", text: `↻ ${item.label}: an attempt failed and was retried — ${item.error.type}: ${item.error.message}` }));
    } else if (item.type === "error") {
      out.append(h("div", { ...open, class: "msg error" }, h("div", { class: "who", text: item.agent || item.label }), h("pre", { text: `${item.error.type}: ${item.error.message}` })));
    } else if (item.type === "thinking") {
      out.append(h("div", { class: "msg agent" }, h("div", { class: "who", text: item.agent }), h("span", { class: "caret" })));
    } else if (item.type === "result") {
      out.append(h("div", { class: "msg final" }, h("div", { class: "who", text: "result" }), h("pre", { text: pretty(item.result) })));
    }
  }
  if (!items.length) out.append(h("div", { class: "sub", text: "Nothing said yet." }));
  return out;
}

// -- step inspector -----------------------------------------------------------------------------------------

function renderInspector(el, run, position, view) {
  const steps = run.step_list || [];
  const step = steps.find((s) => s.position === position);
  if (!step) {
    fill(el, h("h2", { text: "Step" }), h("div", { class: "sub", text: "Select a step in the timeline or the conversation to see what it recorded." }));
    return;
  }
  const detail = h("div", { class: "detail" });
  const parts = [
    h("h2", { text: "Step" }),
    h("div", { class: "head" }, h("span", { class: "t", text: step.label }), badge(step.status)),
    h("div", { class: "kv" },
      h("div", { class: "k", text: "position" }), h("code", { text: step.position }),
      h("div", { class: "k", text: "kind" }), h("div", { text: step.kind }),
      step.agent ? [h("div", { class: "k", text: "agent" }), h("div", { text: step.agent })] : null,
      h("div", { class: "k", text: "started" }), h("div", { text: fmtTime(step.started_at) }),
      h("div", { class: "k", text: "duration" }), h("div", { text: fmtDuration(step.duration) }),
      h("div", { class: "k", text: "attempts" }), h("div", { text: String(step.attempts) })),
  ];
  step.attempt_errors.forEach((e, n) => parts.push(h("h3", { text: `attempt ${n + 1} failed` }), h("div", { class: "error-box" }, h("strong", { text: `${e.type}: ${e.message}` }), e.details ? h("details", {}, h("summary", { text: "traceback" }), h("pre", { text: e.details })) : null)));
  if (step.error) {
    parts.push(h("h3", { text: "error" }), h("div", { class: "error-box" }, h("strong", { text: `${step.error.type}: ${step.error.message}` }), step.error.details ? h("details", {}, h("summary", { text: "traceback" }), h("pre", { text: step.error.details })) : null));
  }
  parts.push(detail, forkBox(run, step));
  fill(el, ...parts);
  // What the step was asked comes from the step's own endpoint: a run page of 1,000 steps does not carry
  // 1,000 model requests. A step that finished does not change, so its detail is kept.
  const key = `${run.run_id}|${step.position}|${step.status}|${step.attempts}`;
  const cached = view.details.get(key);
  if (cached) {
    fill(detail, requestParts(step, cached));
    return;
  }
  fill(detail, h("div", { class: "sub", text: "loading the request…" }));
  api(`/api/runs/${encodeURIComponent(run.run_id)}/steps/${encodeURIComponent(step.position)}`).then((found) => {
    view.details.set(key, found);
    if (detail.isConnected) fill(detail, requestParts(step, found));
  }).catch((err) => fill(detail, h("div", { class: "sub", text: err.message })));
}

function requestParts(step, found) {
  const req = found.request;
  const parts = [];
  const json = (value, cls) => h("pre", { class: "json" + (cls ? " " + cls : ""), text: pretty(value) });
  if (step.kind === "model") {
    const section = h("div", { class: "request", "data-part": "model-request" }, h("h3", { text: "model request" }));
    if (!req) {
      section.append(h("div", { class: "sub", text: "The engine kept no request for this step (recorded before requests were kept, or above 32 KB)." }));
    } else {
      const tools = (req.tools || []).concat(req.handoffs || []);
      section.append(h("div", { class: "kv" },
        req.instructions ? [h("div", { class: "k", text: "instructions" }), h("pre", { class: "instructions", text: req.instructions })] : null,
        h("div", { class: "k", text: "tools" }), h("div", { class: "tools", text: tools.length ? tools.join(", ") : "none" }),
        req.output ? [h("div", { class: "k", text: "output type" }), h("code", { text: req.output })] : null,
        h("div", { class: "k", text: "settings" }), Object.keys(req.settings || {}).length ? json(req.settings, "settings") : h("div", { class: "sub", text: "defaults" }),
        req.previous_response_id ? [h("div", { class: "k", text: "previous response" }), h("code", { text: req.previous_response_id })] : null));
      const items = typeof req.input === "string" ? [{ role: "user", content: req.input }] : req.input || [];
      section.append(h("h3", { text: `input items (${items.length})` }),
        h("div", { class: "items" }, items.map((item) => h("div", { class: "item" },
          h("div", { class: "sub", text: item.type || item.role || "item" }), json(item)))));
    }
    parts.push(section);
    if (step.result !== null && step.result !== undefined) parts.push(h("h3", { text: "recorded response" }), json(step.result, "response"));
  } else if (step.kind === "tool") {
    const args = req && typeof req === "object" && "arguments" in req ? req.arguments : null;
    parts.push(h("h3", { text: "input" }), args === null ? h("div", { class: "sub", text: "not kept" }) : json(args, "tool-input"));
    if (step.status === "done") parts.push(h("h3", { text: "output" }), json(step.result, "tool-output"));
  } else {
    if (req !== null && req !== undefined) parts.push(h("h3", { text: "arguments" }), json(req));
    if (step.result !== null && step.result !== undefined) {
      parts.push(h("h3", { text: step.kind === "wait" ? "message received" : "result" }), json(step.result));
    }
  }
  return parts;
}

function shellQuote(text) {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'"'"'`)}'`;
}

function forkBox(run, step) {
  // stead fork RUN --at STEP [--set-result JSON]: the results recorded before this step are taken over.
  const edit = h("input", { type: "checkbox", id: "fork-edit" });
  const recorded = step.result === null || step.result === undefined ? "" : JSON.stringify(step.result, null, 2);
  const editor = h("textarea", { id: "fork-result", class: "mono", rows: 6, spellcheck: "false", "aria-label": "result to use" });
  editor.value = recorded;
  editor.hidden = true;
  const line = cli("");
  line.id = "fork-cli";
  const update = () => {
    editor.hidden = !edit.checked;
    let command = `stead fork ${shellQuote(run.run_id)} --at ${shellQuote(step.position)}`;
    if (edit.checked) {
      let text = editor.value.trim();
      try { text = JSON.stringify(JSON.parse(text)); } catch (err) { /* shown as typed; the button says what is wrong */ }
      command += ` --set-result ${shellQuote(text)}`;
    }
    line.textContent = command;
  };
  edit.addEventListener("change", update);
  editor.addEventListener("input", update);
  update();
  const go = async () => {
    const body = { at: step.position };
    if (edit.checked) {
      try { body.set_result = JSON.parse(editor.value); } catch (err) { toast("the result is not JSON: " + err.message, true); return; }
    }
    try {
      const out = await api(`/api/runs/${encodeURIComponent(run.run_id)}/fork`, { body });
      toast(`forked as ${out.run_id}: a worker runs it  ($ ${out.cli})`);
      navigate(`/runs/${encodeURIComponent(out.run_id)}`);
    } catch (err) {
      toast(err.message, true);
    }
  };
  return h("div", { class: "fork", id: "fork-box" },
    h("h3", { text: "fork from this step" }),
    h("div", { class: "sub", text: "A new run takes over the results recorded before this step and runs the rest with the current code (a worker executes it). The original run stays as it is." }),
    h("label", { class: "sub" }, edit, step.kind === "wait" ? " with this message instead of waiting" : " with this result instead of running the step"),
    editor,
    h("div", {}, h("button", { class: "btn primary", id: "fork", text: "Fork from this step", onclick: go })),
    line);
}

// -- approvals inbox ----------------------------------------------------------------------------------------

function approvalsPage() {
  const list = h("div", { id: "inbox" });
  fill(app, h("h1", { text: "Approvals" }), h("div", { class: "sub", text: "Tool calls waiting for a person, across runs. A run that waits costs no worker memory." }), list);
  async function load() {
    const data = await api("/api/approvals");
    updateCount(data.approvals.length);
    if (!data.approvals.length) {
      fill(list, h("div", { class: "panel empty", text: "Nothing waits for a decision." }));
      return;
    }
    fill(list, ...data.approvals.map((a) => h("div", { class: "panel" },
      h("div", {}, h("a", { href: `/runs/${encodeURIComponent(a.run_id)}`, class: "mono", text: a.run_id }), h("span", { class: "sub", text: ` · ${a.workflow}` })),
      approvalCard(a, load))));
  }
  load().catch((err) => toast(err.message, true));
  return every(2000, load);
}

function updateCount(n) {
  const el = document.getElementById("inbox-count");
  el.hidden = !n;
  el.textContent = String(n);
}

// -- routing ------------------------------------------------------------------------------------------------

function route() {
  stopPage();
  const path = location.pathname;
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", (a.dataset.nav === "approvals") === path.startsWith("/approvals") && !path.startsWith("/runs/"));
  }
  if (path.startsWith("/runs/")) {
    document.querySelector('[data-nav="runs"]').classList.add("active");
    const runId = decodeURIComponent(path.slice("/runs/".length));
    document.title = `${runId} · stead`;
    stopPage = runPage(runId);
  } else if (path.startsWith("/approvals")) {
    document.title = "Approvals · stead";
    stopPage = approvalsPage();
  } else {
    document.title = "Runs · stead";
    stopPage = runsPage();
  }
}

api("/api/info").then((info) => {
  document.getElementById("engine").textContent = `${info.engine} engine · stead ${info.version}`;
}).catch(() => {});
const refreshCount = () => api("/api/approvals").then((d) => updateCount(d.approvals.length)).catch(() => {});
refreshCount();
every(3000, refreshCount);
route();
