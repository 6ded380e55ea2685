"""The training room's pages: server-written HTML shells and one small script each.

No build step and nothing from a CDN: the script is plain JavaScript served from here. Each
page fills itself from its event stream's snapshots; times are shown in London time with the
zone named, and countdowns move every second between snapshots.
"""

from __future__ import annotations

from html import escape

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2327;background:#f5f6f7}
header{background:#20434f;color:#fff;padding:.6em 1em;display:flex;gap:1.5em;flex-wrap:wrap;
align-items:baseline}
header h1{font-size:1.15em;margin:0}
main{padding:1em;max-width:1200px;margin:auto}
.card{background:#fff;border:1px solid #d0d5d9;border-radius:6px;padding:1em;margin:0 0 1em}
.code{font:700 2.2em/1 ui-monospace,monospace;letter-spacing:.15em}
table{border-collapse:collapse;margin:.3em 0}td,th{padding:.2em .6em;border-bottom:1px solid #e3e6e8;
text-align:left;vertical-align:top}
.n{text-align:right}.fail td{background:#fde7e7}.split td{background:#fff4d6}
.muted{color:#5b6770}.alert{color:#9b1c1c;font-weight:600}
.ok{color:#1e6b36;font-weight:600}
button{font:inherit;padding:.35em .9em;border-radius:4px;border:1px solid #20434f;background:#20434f;
color:#fff;cursor:pointer}button[disabled]{opacity:.4;cursor:default}
button.quiet{background:#fff;color:#20434f}
fieldset{border:1px solid #d0d5d9;border-radius:4px;margin:.5em 0}
label.choice{display:block;margin:.15em 0}
textarea{width:100%;min-height:4em;font:inherit}
.windows span{display:inline-block;margin-right:1.2em}
.red{color:#b3261e}.amber{color:#8a5a00}.green{color:#1e6b36}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1em}
@media (max-width:800px){.grid{grid-template-columns:1fr}}
"""

COMMON_JS = r"""
"use strict";
const LONDON = new Intl.DateTimeFormat("en-GB", {timeZone: "Europe/London", weekday: "short",
  day: "2-digit", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
  timeZoneName: "short"});
function london(ms) { return LONDON.format(new Date(ms)) + " (London)"; }
function span(seconds) {
  let s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return d + (d === 1 ? " day " : " days ") + h + " h";
  if (h) return h + " h " + String(m).padStart(2, "0") + " min";
  if (m) return m + " min " + String(s).padStart(2, "0") + " s";
  return s + " s";
}
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined)
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}
// Event time now, from the last snapshot: it moves at the room's speed while it runs.
let ROOM = null, RECEIVED = 0;
function eventNow() {
  if (!ROOM) return 0;
  const gone = (performance.now() - RECEIVED) / 1000;
  return ROOM.event_now_ms + (ROOM.running ? gone * ROOM.speed * 1000 : 0);
}
function nextIn() {
  if (!ROOM || ROOM.next_in_seconds === null) return null;
  return Math.max(0, ROOM.next_in_seconds - (performance.now() - RECEIVED) / 1000);
}
async function post(url, body) {
  const reply = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body || {})});
  let data = {};
  try { data = await reply.json(); } catch (e) { data = {}; }
  return {ok: reply.ok, status: reply.status, data: data};
}
function listen(url, render) {
  const source = new EventSource(url);
  source.onmessage = (m) => { const s = JSON.parse(m.data); RECEIVED = performance.now(); render(s); };
  source.onerror = () => { const n = document.getElementById("link");
    if (n) n.textContent = "reconnecting..."; };
  source.onopen = () => { const n = document.getElementById("link"); if (n) n.textContent = ""; };
  window.addEventListener("beforeunload", () => source.close());
  return source;
}
function roomLine(room) {
  const state = room.state === "paused" ? "PAUSED" + (room.paused_because ? ": " + room.paused_because : "")
    : room.state;
  return state;
}
"""

JOIN_JS = r"""
const form = document.getElementById("join");
const said = document.getElementById("said");
const kept = localStorage.getItem("mash-room-token");
if (kept) {
  fetch("/api/t/" + kept + "/state").then((r) => r.ok ? r.json() : null).then((s) => {
    if (s) { const a = el("a", {href: "/t/" + kept, id: "rejoin"}, "Rejoin as " + s.name);
      document.getElementById("again").append(a); }
  }).catch(() => {});
}
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  said.textContent = "";
  const r = await post("/api/join", {code: form.code.value, name: form.name.value});
  if (!r.ok) { said.textContent = r.data.error || ("refused (" + r.status + ")"); return; }
  localStorage.setItem("mash-room-token", r.data.token);
  window.location.href = r.data.url;
});
"""

TRAINEE_JS = r"""
const TOKEN = document.body.dataset.token;
const cards = document.getElementById("contacts");
let STATE = null;
function facts(v) {
  const t = el("table", {});
  const row = (k, val) => t.append(el("tr", {}, el("th", {}, k), el("td", {}, val)));
  row("received", london(Date.parse(v.received.iso)));
  row("from", v.from);
  row("child", v.child.id + ", " + v.child.sex + ", " + v.child.age +
      (v.child.non_mobile ? ", non-mobile" : "") + (v.child.looked_after ? ", looked after" : ""));
  if (v.also_named.length) row("also named", v.also_named.join(", "));
  row("concerns", v.concerns.join("; ") || "none named");
  if (v.cse_indicators.length) row("CSE indicators", v.cse_indicators.join("; "));
  if (v.marked.length) row("marked", v.marked.join(", "));
  if (v.narrative) row("referrer says", v.narrative);
  return t;
}
function holds(v) {
  const box = el("div", {});
  const t = el("table", {class: "holds"});
  for (const [k, val] of v.holds) t.append(el("tr", {}, el("th", {}, k), el("td", {}, val)));
  box.append(el("h4", {}, "What the hub holds on " + v.child.id), t);
  const c = el("table", {class: "history-contacts"});
  for (const p of v.contacts) c.append(el("tr", {}, el("td", {}, london(Date.parse(p.at.iso))),
    el("td", {}, p.from + ": " + (p.concerns.join("; ") || "no concern named"))));
  box.append(el("h4", {}, "Contacts in the last 12 months: " + v.contacts.length), c);
  const m = el("table", {class: "history-missing"});
  for (const e of v.episodes) m.append(el("tr", {}, el("td", {}, london(Date.parse(e.started.iso))),
    el("td", {}, e.returned ? "returned " + london(Date.parse(e.returned.iso)) : "not returned"),
    el("td", {}, e.with_adults ? "with adults" : "")));
  box.append(el("h4", {}, "Missing episodes in the last 12 months: " + v.episodes.length), m);
  if (v.earlier.length) {
    const d = el("ul", {});
    for (const x of v.earlier) d.append(el("li", {}, x.contact + ": " + x.answer));
    box.append(el("h4", {}, "Your earlier decisions"), d);
  }
  const k = el("ul", {class: "clocks"});
  for (const x of v.clocks) k.append(el("li", {}, x.name + ": " +
    (x.breached ? "OUT OF TIMESCALE" : (x.due ? "due " + london(Date.parse(x.due.iso)) : "due when decided"))));
  box.append(el("h4", {}, "Clocks running"), v.clocks.length ? k : el("p", {class: "muted"}, "none"));
  return box;
}
function choiceSet(legend, name, options) {
  const f = el("fieldset", {}, el("legend", {}, legend));
  for (const o of options) {
    const id = name + "-" + o.value + "-" + Math.random().toString(36).slice(2, 7);
    const input = el("input", {type: "radio", name: name, value: String(o.value), id: id});
    f.append(el("label", {class: "choice", for: id}, input, " ",
      el("strong", {}, (name === "level" ? o.value + " " : "") + o.name),
      o.description ? " - " + o.description : ""));
  }
  return f;
}
function card(v) {
  const c = el("section", {class: "card contact", "data-key": v.key});
  c.append(el("h2", {}, "Contact " + v.number + " of " + v.total + ": " + v.contact + " (" + v.child.id + ")"));
  const w = el("p", {class: "windows"});
  for (const rag of ["red", "amber", "green"])
    w.append(el("span", {class: rag, "data-rag": rag, "data-due": String(Date.parse(v.windows[rag].iso))}));
  c.append(w);
  const grid = el("div", {class: "grid"}, el("div", {}, facts(v)), holds(v));
  c.append(grid);
  const form = el("form", {class: "answer"});
  form.append(choiceSet("Level of need", "level", STATE.choices.levels),
    choiceSet("RAG rating", "rag", STATE.choices.rags));
  const sel = el("select", {name: "outcome"}, el("option", {value: ""}, "choose an outcome"));
  for (const o of STATE.choices.outcomes) sel.append(el("option", {value: o.value}, o.name));
  form.append(el("fieldset", {}, el("legend", {}, "Outcome"), sel));
  form.append(el("fieldset", {}, el("legend", {}, "Rationale (your reasons, for the debrief)"),
    el("textarea", {name: "rationale"})));
  const saved = el("p", {class: "saved", role: "status"});
  form.append(el("button", {type: "submit"}, "Save answer"), saved);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const level = form.querySelector("input[name=level]:checked");
    const rag = form.querySelector("input[name=rag]:checked");
    if (!level || !rag || !sel.value) { saved.textContent = "choose a level, a RAG rating and an outcome";
      saved.className = "saved alert"; return; }
    const r = await post("/api/t/" + TOKEN + "/answer", {key: v.key, level: Number(level.value),
      rag: rag.value, outcome: sel.value, rationale: form.rationale.value});
    if (!r.ok) { saved.textContent = r.data.error || "refused"; saved.className = "saved alert"; }
  });
  c.append(form);
  return c;
}
function fill(c, answer) {
  const form = c.querySelector("form");
  if (!answer || form.dataset.filled) return;
  form.dataset.filled = "1";
  const pick = (n, v) => { const i = form.querySelector("input[name=" + n + "][value='" + v + "']"); if (i) i.checked = true; };
  pick("level", answer.level); pick("rag", answer.rag);
  form.outcome.value = answer.outcome; form.rationale.value = answer.rationale;
}
function render(s) {
  STATE = s; ROOM = s.room;
  document.getElementById("who").textContent = s.name;
  document.getElementById("room").textContent = s.room.code + ": " + s.room.scenario;
  document.getElementById("state").textContent = roomLine(s.room);
  document.getElementById("progress").textContent = s.locked + " of " + s.total + " locked";
  const open = new Map(s.open.map((v) => [v.key, v]));
  for (const c of [...cards.querySelectorAll("section.contact")])
    if (!open.has(c.dataset.key)) c.remove();
  for (const v of s.open) {
    let c = cards.querySelector("section.contact[data-key='" + CSS.escape(v.key) + "']");
    if (!c) { c = card(v); cards.append(c); }
    fill(c, v.answer);
    const saved = c.querySelector(".saved");
    if (v.answer) { saved.textContent = "Saved: " + v.answer.words + ". You can change it until the next contact arrives.";
      saved.className = "saved ok"; }
  }
  const note = document.getElementById("note");
  if (s.failed) note.textContent = s.failed;
  else if (s.debrief) { note.textContent = ""; note.append(el("a", {href: "/t/" + TOKEN + "/debrief", id: "debrief"}, "Your debrief"),
    " (", el("a", {href: "/t/" + TOKEN + "/debrief.md"}, "markdown"), ")"); }
  else if (s.room.state === "lobby") note.textContent = "Waiting for the facilitator to start the room.";
  else if (!s.open.length) note.textContent = "Waiting for the next contact.";
  else note.textContent = "";
  tick();
}
function tick() {
  if (!ROOM) return;
  const now = eventNow();
  document.getElementById("clock").textContent = london(now);
  const n = nextIn();
  document.getElementById("next").textContent = n === null ? "" :
    "next contact (answers lock) within " + span(n);
  for (const s of document.querySelectorAll(".windows span")) {
    const left = (Number(s.dataset.due) - now) / 1000;
    const real = ROOM.speed > 0 ? " = " + span(left / ROOM.speed) + " of yours" : "";
    s.textContent = s.dataset.rag + ": " + (left > 0 ? span(left) + " left" + real : "PASSED");
  }
}
setInterval(tick, 1000);
listen("/api/t/" + TOKEN + "/events", render);
"""

FACILITATOR_JS = r"""
const KEY = document.body.dataset.key;
const api = (a) => "/api/f/" + KEY + "/" + a;
let SETUP = false;
async function act(a, body) {
  const r = await post(api(a), body);
  document.getElementById("said").textContent = r.ok ? "" : (r.data.error || "refused");
}
function setup(s) {
  const box = document.getElementById("setup");
  if (SETUP) return;
  SETUP = true;
  box.textContent = "";
  const form = el("form", {id: "open"});
  const sel = el("select", {name: "scenario"});
  for (const x of s.scenarios) sel.append(el("option", {value: x.name}, x.name + ": " + x.summary));
  form.append(el("h2", {}, "Open a room"), el("label", {}, "Scenario ", sel), el("br", {}),
    el("label", {}, "Speed (event seconds per real second) ",
      el("input", {name: "speed", type: "number", step: "any", value: String(s.defaults.speed)})), el("br", {}),
    el("label", {}, "Longest wait between contacts (real seconds) ",
      el("input", {name: "max_wait", type: "number", step: "any", value: String(s.defaults.max_wait)})), el("br", {}),
    el("details", {}, el("summary", {}, "generated slice"),
      el("label", {}, "days ", el("input", {name: "days", type: "number", value: "2"})),
      el("label", {}, " scale ", el("input", {name: "scale", type: "number", step: "any", value: "0.25"})),
      el("label", {}, " seed ", el("input", {name: "seed", type: "number", value: "1"}))),
    el("button", {type: "submit"}, "Open the room"));
  form.addEventListener("submit", (e) => { e.preventDefault();
    act("open", {scenario: sel.value, speed: Number(form.speed.value), max_wait: Number(form.max_wait.value),
      days: Number(form.days.value), scale: Number(form.scale.value), seed: Number(form.seed.value)}); });
  box.append(form);
}
function render(s) {
  const r = s.room;
  ROOM = r ? r.room : null;
  document.getElementById("setup").hidden = !!(r && r.room.state !== "ended");
  if (!r || r.room.state === "ended") setup(s); else SETUP = false;
  const live = document.getElementById("live");
  live.hidden = !r;
  if (!r) return;
  const room = r.room;
  document.getElementById("code").textContent = room.code;
  document.getElementById("join-url").textContent = s.join_url;
  document.getElementById("scenario").textContent = room.scenario + ": " + room.description;
  document.getElementById("state").textContent = roomLine(room);
  document.getElementById("stop").textContent = "contact stop " + room.stop + " of " + room.stops;
  const st = room.state;
  document.getElementById("start").disabled = st !== "lobby";
  document.getElementById("pause").disabled = st !== "running";
  document.getElementById("resume").disabled = st !== "paused";
  document.getElementById("skip").disabled = !(st === "running" || st === "paused");
  document.getElementById("end").disabled = st === "ended" || st === "ending";
  const body = document.getElementById("trainees");
  body.textContent = "";
  for (const t of r.trainees) {
    const answers = Object.entries(t.answers).map(([k, w]) => k + ": " + w).join("; ");
    const tr = el("tr", {"data-name": t.name},
      el("td", {}, t.name), el("td", {}, t.connected ? "here" : "away"),
      el("td", {class: "n"}, t.locked + " of " + r.total),
      el("td", {class: "n"}, t.answered + " of " + t.open),
      el("td", {}, t.pending.join(", ") || "-"), el("td", {}, answers || "-"),
      el("td", {}, t.score ? t.score.points + " of " + t.score.out_of + ", " + t.score.safety_critical + " safety-critical" : ""));
    if (t.score) tr.lastChild.append(" ", el("a", {href: "/f/" + KEY + "/debrief/" + encodeURIComponent(t.name) + ".html"}, "debrief"));
    body.append(tr);
  }
  document.getElementById("count").textContent = r.trainees.length + " joined";
  const a = r.apply_seconds;
  document.getElementById("apply").textContent = a.count ? "each desk applied its stop in " +
    a.median + " s (median), " + a.max + " s at most" : "";
  const d = document.getElementById("room-debrief");
  d.textContent = "";
  if (r.debrief) d.append(el("a", {href: "/f/" + KEY + "/debrief", id: "debrief"}, "Room debrief"),
    " (", el("a", {href: "/f/" + KEY + "/debrief.md"}, "markdown"), ")");
  tick();
}
function tick() {
  if (!ROOM) return;
  document.getElementById("clock").textContent = london(eventNow());
  const n = nextIn();
  document.getElementById("next").textContent = n === null ? "" : "next contact within " + span(n);
}
for (const a of ["start", "pause", "resume", "skip", "end"])
  document.getElementById(a).addEventListener("click", () => act(a));
setInterval(tick, 1000);
listen(api("events"), render);
"""

ASSETS = {
    "room.css": ("text/css", CSS),
    "common.js": ("text/javascript", COMMON_JS),
    "join.js": ("text/javascript", JOIN_JS),
    "trainee.js": ("text/javascript", TRAINEE_JS),
    "facilitator.js": ("text/javascript", FACILITATOR_JS),
}


def _shell(title: str, body: str, script: str | None, data: str = "") -> str:
    scripts = (
        f'<script src="/assets/common.js"></script><script src="/assets/{script}"></script>'
        if script
        else ""
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<link rel='icon' href='data:,'>"
        f"<title>{escape(title)}</title><link rel='stylesheet' href='/assets/room.css'></head>"
        f"<body{data}>{body}{scripts}</body></html>\n"
    )


def join_page() -> str:
    body = (
        "<header><h1>mash training room</h1></header><main><section class='card'>"
        "<h2>Join a room</h2><form id='join'><label>Room code "
        "<input name='code' autocomplete='off' required maxlength='12'></label> "
        "<label>Your name <input name='name' required maxlength='40'></label> "
        "<button type='submit'>Join</button></form>"
        "<p id='said' class='alert' role='alert'></p><p id='again'></p></section></main>"
    )
    return _shell("Join a training room", body, "join.js")


def trainee_page(token: str) -> str:
    body = (
        "<header><h1 id='room'>training room</h1><span id='who'></span>"
        "<span id='state'></span><span id='clock'></span><span id='next'></span>"
        "<span id='progress'></span><span id='link' class='muted'></span></header>"
        "<main><p id='note' class='muted' role='status'></p><div id='contacts'></div></main>"
    )
    return _shell("Training room", body, "trainee.js", f" data-token='{escape(token)}'")


def facilitator_page(key: str) -> str:
    body = (
        "<header><h1>Facilitator</h1><span id='state'></span><span id='clock'></span>"
        "<span id='next'></span><span id='link' class='muted'></span></header><main>"
        "<section id='setup' class='card'></section>"
        "<section id='live' class='card' hidden>"
        "<p>Room code <span id='code' class='code'></span> &nbsp; trainees join at "
        "<strong id='join-url'></strong></p><p id='scenario' class='muted'></p>"
        "<p><button id='start'>Start</button> <button id='pause' class='quiet'>Pause</button> "
        "<button id='resume' class='quiet'>Resume</button> "
        "<button id='skip' class='quiet'>Skip ahead</button> "
        "<button id='end' class='quiet'>End</button> <span id='stop' class='muted'></span></p>"
        "<p id='said' class='alert' role='alert'></p>"
        "<h2>Trainees <small id='count' class='muted'></small></h2>"
        "<table><thead><tr><th>name</th><th>page</th><th>locked</th><th>answered</th>"
        "<th>pending</th><th>current answers</th><th>debrief</th></tr></thead>"
        "<tbody id='trainees'></tbody></table><p id='apply' class='muted'></p>"
        "<p id='room-debrief'></p></section></main>"
    )
    return _shell("Facilitator", body, "facilitator.js", f" data-key='{escape(key)}'")


def error_page(message: str) -> str:
    body = (
        "<header><h1>mash training room</h1></header><main><section class='card'>"
        f"<p class='alert'>{escape(message)}</p><p><a href='/'>Join a room</a></p>"
        "</section></main>"
    )
    return _shell("Training room", body, None)
