// The seedring web page: plain JavaScript, no library. Everything from a torrent
// (names, paths, messages) is put on the page as text, never as HTML.
"use strict";

const API = "/api/v1";
let token = sessionStorage.getItem("seedring-token") || "";
const $ = (sel) => document.querySelector(sel);
const history = []; // [down, up] bytes per second, one a second, five minutes
let detailId = null;
let detailCategory = "";
let detailFollow = true;
// Set by the user's first change in the detail form, cleared once applied: the
// refresh never writes over what the user is editing, focused or not.
let detailDirty = false;
// The root the detail's torrent was in when its form was filled.
let detailRoot = null;
let logAbort = null;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function eta(s) {
  if (s === null || s === undefined) return "";
  if (s < 60) return s + " s";
  if (s < 3600) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

// A span of seconds as days, hours and minutes ("3 d 4 h", "2 h 5 min", "40 s").
function span(s) {
  if (s < 60) return s + " s";
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${h} h`;
  return h ? `${h} h ${m} min` : `${m} min`;
}

// Unix seconds as a local date and time.
function when(unix) {
  return new Date(unix * 1000).toLocaleString();
}

async function api(method, path, body, type) {
  const headers = { Authorization: "Bearer " + token };
  let data;
  if (body !== undefined) {
    headers["Content-Type"] = type || "application/json";
    data = type ? body : JSON.stringify(body);
  }
  const r = await fetch(API + path, { method, headers, body: data });
  if (r.status === 401) { showLogin("The token was refused."); throw new Error("unauthorized"); }
  const text = await r.text();
  const v = text ? JSON.parse(text) : null;
  if (!r.ok) throw new Error((v && v.detail) || r.statusText);
  return v;
}

function showLogin(msg) {
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = msg || "";
}

async function signIn(t) {
  token = t;
  try {
    await api("GET", "/stats");
  } catch (e) {
    showLogin("The token was refused.");
    return;
  }
  sessionStorage.setItem("seedring-token", token);
  $("#login").hidden = true;
  $("#app").hidden = false;
  await loadRoots();
  refresh();
}

function bar(p) {
  const b = el("span", null, "bar");
  const f = el("div");
  f.style.width = (100 * p).toFixed(1) + "%";
  b.appendChild(f);
  b.title = (100 * p).toFixed(1) + "%";
  b.dataset.progress = p;
  return b;
}

function actionButton(label, cls, fn) {
  const b = el("button", label, cls);
  b.addEventListener("click", async (ev) => {
    ev.stopPropagation();
    try { await fn(); } catch (e) { alert(label + ": " + e.message); }
    refresh();
  });
  return b;
}

function renderTorrents(list) {
  const body = $("#torrents tbody");
  body.replaceChildren();
  for (const t of list) {
    const tr = el("tr");
    tr.dataset.id = t.id;
    tr.dataset.state = t.state;
    const name = el("td", t.name, "name");
    name.addEventListener("click", () => openDetail(t.id));
    tr.appendChild(name);
    tr.appendChild(el("td", bytes(t.size)));
    const prog = el("td");
    prog.appendChild(bar(t.progress));
    tr.appendChild(prog);
    tr.appendChild(el("td", t.state + (t.error ? ": " + t.error : ""), "state"));
    tr.appendChild(el("td", bytes(t.download_rate) + "/s"));
    tr.appendChild(el("td", bytes(t.upload_rate) + "/s"));
    tr.appendChild(el("td", t.peers));
    tr.appendChild(el("td", t.ratio.toFixed(2)));
    tr.appendChild(el("td", t.root));
    tr.appendChild(el("td", t.category, "category"));
    tr.appendChild(el("td", t.labels.join(", "), "labels"));
    tr.appendChild(el("td", eta(t.eta_secs)));
    const acts = el("td");
    if (t.state === "paused") {
      acts.appendChild(actionButton("Resume", "resume", () => api("POST", `/torrents/${t.id}/resume`)));
    } else {
      acts.appendChild(actionButton("Pause", "pause", () => api("POST", `/torrents/${t.id}/pause`)));
    }
    acts.appendChild(actionButton("Recheck", "recheck", () => api("POST", `/torrents/${t.id}/recheck`)));
    acts.appendChild(actionButton("Remove", "remove", async () => {
      if (!confirm(`Remove ${t.name}?`)) return;
      const del = confirm("Delete its downloaded data too?");
      await api("DELETE", `/torrents/${t.id}?delete_files=${del}`);
      if (detailId === t.id) closeDetail();
    }));
    tr.appendChild(acts);
    body.appendChild(tr);
  }
}

function drawGraph() {
  const c = $("#graph");
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const max = Math.max(1, ...history.flat());
  const step = c.width / 300;
  [["#3a7", 0], ["#37a", 1]].forEach(([color, k]) => {
    g.strokeStyle = color;
    g.beginPath();
    history.forEach((h, i) => {
      const x = c.width - (history.length - i) * step;
      const y = c.height - 4 - (h[k] / max) * (c.height - 8);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  });
  g.fillStyle = "#555";
  g.fillText("max " + bytes(max) + "/s  (green: down, blue: up)", 6, 12);
}

async function refresh() {
  if (!token || $("#app").hidden) return;
  try {
    const label = $("#label-filter").value;
    const category = $("#category-filter").value;
    const q = "/torrents?sort=added" + (label ? "&label=" + encodeURIComponent(label) : "") +
      (category ? "&category=" + encodeURIComponent(category) : "");
    const [page, stats, cats] = await Promise.all([
      api("GET", q), api("GET", "/stats"), api("GET", "/categories"),
    ]);
    if (!label) fillLabelFilter(page.torrents);
    fillCategories(Object.keys(cats));
    renderTorrents(page.torrents);
    const cap = (n) => (n ? ` (max ${bytes(n)}/s)` : "");
    $("#totals").textContent =
      `${stats.torrents} torrents, ↓ ${bytes(stats.download_rate)}/s${cap(stats.download_limit)} ` +
      `↑ ${bytes(stats.upload_rate)}/s${cap(stats.upload_limit)}, ${stats.peers} peers`;
    showAltLimits(stats.alt_limits);
    history.push([stats.download_rate, stats.upload_rate]);
    if (history.length > 300) history.shift();
    drawGraph();
    if (detailId) await fillDetail(detailId);
  } catch (e) {
    $("#totals").textContent = "not reachable: " + e.message;
  }
}

// Every category select offers the categories there are (keeping its choice).
function fillCategories(names) {
  for (const [id, none] of [["#category-filter", "any"], ["#add-category", "no category"], ["#detail-category", "none"]]) {
    const sel = $(id);
    const shown = [...sel.options].slice(1).map((o) => o.value);
    if (shown.length === names.length && shown.every((n, i) => n === names[i])) continue;
    if (id === "#detail-category" && detailEditing()) continue;
    const keep = sel.value;
    sel.replaceChildren(el("option", none));
    sel.options[0].value = "";
    for (const n of names) {
      const o = el("option", n);
      o.value = n;
      sel.appendChild(o);
    }
    sel.value = names.includes(keep) ? keep : "";
  }
}

async function loadCategories() {
  const cats = await api("GET", "/categories");
  const body = $("#categories tbody");
  body.replaceChildren();
  for (const [name, c] of Object.entries(cats)) {
    const tr = el("tr");
    tr.appendChild(el("td", name));
    tr.appendChild(el("td", c.save_path || "(default root)"));
    const d = el("td");
    d.appendChild(actionButton("Remove", "remove", () => api("DELETE", `/categories/${encodeURIComponent(name)}`).then(loadCategories)));
    tr.appendChild(d);
    body.appendChild(tr);
  }
  fillCategories(Object.keys(cats));
}

// The label filter offers every label seen on the unfiltered list.
function fillLabelFilter(list) {
  const sel = $("#label-filter");
  const known = new Set(list.flatMap((t) => t.labels));
  const shown = [...sel.options].slice(1).map((o) => o.value);
  if (shown.length === known.size && shown.every((l) => known.has(l))) return;
  sel.replaceChildren(el("option", "any"));
  sel.options[0].value = "";
  for (const l of [...known].sort()) {
    const o = el("option", l);
    o.value = l;
    sel.appendChild(o);
  }
}

// The detail's root select offers every storage root; they are read again
// when the torrent's root is not among them (one a category's folder made).
async function fillDetailRoots(current) {
  const sel = $("#detail-root");
  if ([...sel.options].some((o) => o.value === current)) return;
  const roots = await api("GET", "/roots");
  sel.replaceChildren();
  for (const r of roots) {
    const o = el("option", r.label && r.label !== r.token ? `${r.label} (${r.token})` : r.token);
    o.value = r.token;
    sel.appendChild(o);
  }
}

function detailEditing() {
  return detailDirty || $("#detail-form").contains(document.activeElement);
}

async function openDetail(id) {
  detailId = id;
  detailDirty = false;
  $("#detail").hidden = false;
  await fillDetail(id);
}

function closeDetail() {
  detailId = null;
  $("#detail").hidden = true;
}

async function fillDetail(id) {
  const [t, files, peers, pieces, trackers] = await Promise.all([
    api("GET", `/torrents/${id}`), api("GET", `/torrents/${id}/files`),
    api("GET", `/torrents/${id}/peers`), api("GET", `/torrents/${id}/pieces`),
    api("GET", `/torrents/${id}/trackers`),
  ]);
  if (detailId !== id) return; // another torrent's detail opened meanwhile
  await fillDetailRoots(t.root);
  if (detailId !== id) return;
  $("#detail-name").textContent = t.name;
  if (!detailEditing()) {
    $("#detail-root").value = t.root;
    detailRoot = t.root;
    $("#detail-labels").value = t.labels.join(", ");
    $("#detail-category").value = t.category;
    detailCategory = t.category;
    $("#detail-follow").checked = t.follows_category;
    detailFollow = t.follows_category;
    $("#detail-down").value = t.download_limit;
    $("#detail-up").value = t.upload_limit;
    $("#detail-seq").checked = t.sequential;
    $("#detail-super").checked = t.super_seeding;
    const own = t.share_limits || {};
    const shown = (v) => (v === null || v === undefined ? "" : String(v));
    $("#detail-ratio").value = shown(own.ratio_limit);
    $("#detail-seeding").value = shown(own.seeding_time_limit_mins);
    $("#detail-inactive").value = shown(own.inactive_seeding_time_limit_mins);
    $("#detail-action").value = own.share_limit_action || "";
  }
  $("#detail-info").textContent =
    `${t.id} · ${bytes(t.have_bytes)} of ${bytes(t.size)} · ${t.have_pieces}/${t.pieces} pieces · ` +
    `downloaded ${bytes(t.downloaded)}, uploaded ${bytes(t.uploaded)}, wasted ${bytes(t.wasted)} · ` +
    `in root ${t.root}` + (t.finish_root ? `, moving to ${t.finish_root} when it finishes` : "") +
    (t.note ? " · " + t.note : "");
  $("#detail-times").textContent =
    `added ${when(t.added_at)}` + (t.completed_at ? ` · completed ${when(t.completed_at)}` : "") +
    ` · ran ${span(t.running_secs)}, seeded ${span(t.seeding_secs)}` +
    ` · last activity ${t.active_at ? when(t.active_at) : "never"}`;
  const fb = $("#detail-files tbody");
  fb.replaceChildren();
  for (const f of files) {
    const tr = el("tr");
    tr.appendChild(el("td", f.path));
    tr.appendChild(el("td", bytes(f.size)));
    const p = el("td"); p.appendChild(bar(f.progress)); tr.appendChild(p);
    const sel = el("select");
    const levels = [[0, "skip"], [1, "normal"], [4, "high"], [7, "highest"]];
    // A level set elsewhere (qBittorrent's 6, say) is shown as it is.
    if (!levels.some(([v]) => v === f.priority)) levels.push([f.priority, "priority " + f.priority]);
    for (const [v, label] of levels) {
      const o = el("option", label); o.value = v; sel.appendChild(o);
    }
    sel.value = String(f.priority);
    sel.className = "file-priority";
    // This file's priority alone: the others keep theirs.
    sel.addEventListener("change", async () => {
      const body = { indexes: [f.index], priority: Number(sel.value) };
      try { await api("PUT", `/torrents/${id}/files`, body); } catch (e) { alert(e.message); }
    });
    const td = el("td"); td.appendChild(sel); tr.appendChild(td);
    // A new name for the file (a folder in it moves it there).
    const rn = el("button", "rename", "rename");
    rn.type = "button";
    rn.addEventListener("click", async () => {
      const to = prompt("New name for " + f.path, f.path);
      if (!to || to === f.path) return;
      try { await api("PUT", `/torrents/${id}/paths`, { from: f.path, to }); } catch (e) { alert(e.message); }
    });
    const tdr = el("td"); tdr.appendChild(rn); tr.appendChild(tdr);
    fb.appendChild(tr);
  }
  const pb = $("#detail-peers tbody");
  pb.replaceChildren();
  for (const p of peers) {
    const tr = el("tr");
    for (const v of [p.addr, p.client, p.flags, bytes(p.download_rate) + "/s", bytes(p.upload_rate) + "/s", p.pieces]) {
      tr.appendChild(el("td", v));
    }
    pb.appendChild(tr);
  }
  const tiers = trackers.tiers.map((tier, i) => `tier ${i + 1}: ${tier.join(", ")}`).join("; ");
  const next = trackers.next_announce_secs === null ? "not announcing" : `next announce in ${trackers.next_announce_secs} s`;
  $("#detail-tracker").textContent = trackers.tiers.length === 0
    ? "no trackers"
    : `${tiers} · ${next} · ${trackers.announces} announces, ${trackers.peers_received} peers received` +
      (trackers.seeders !== null || trackers.leechers !== null
        ? ` · swarm: ${trackers.seeders ?? "?"} seeders, ${trackers.leechers ?? "?"} leechers` +
          (trackers.downloaded !== null ? `, ${trackers.downloaded} downloads` : "")
        : "") +
      (trackers.last_error ? ` · last error: ${trackers.last_error}` : "") +
      (trackers.asked.length > 1
        ? " · " + trackers.asked.map((a) => `${a.url}: ${a.error ?? "working"}`).join("; ")
        : "") +
      (trackers.last_warning ? ` · ${trackers.last_warning}` : "") +
    (trackers.web_seeds.length > 0 ? ` · web seeds: ${trackers.web_seeds.join(", ")}` : "");
  const c = $("#detail-pieces");
  const g = c.getContext("2d");
  g.fillStyle = "#ddd";
  g.fillRect(0, 0, c.width, c.height);
  if (pieces.pieces > 0) {
    g.fillStyle = "#3a7";
    const w = c.width / pieces.pieces;
    for (let i = 0; i < pieces.pieces; i++) {
      const byte = parseInt(pieces.bitfield.substr((i >> 3) * 2, 2), 16);
      if (byte & (0x80 >> (i & 7))) g.fillRect(i * w, 0, Math.max(w, 1), c.height);
    }
    // Pieces on their way, in a lighter shade.
    g.fillStyle = "#9cd";
    for (const i of pieces.downloading) g.fillRect(i * w, 0, Math.max(w, 1), c.height);
  }
}

async function loadRoots() {
  const roots = await api("GET", "/roots");
  const sel = $("#add-root");
  // "" lets the category's save path (or the default root) decide.
  sel.replaceChildren(el("option", "root: category's or default"));
  sel.options[0].value = "";
  const body = $("#roots tbody");
  body.replaceChildren();
  for (const r of roots) {
    const o = el("option", `${r.label} (${bytes(r.free_bytes)} free)`);
    o.value = r.token;
    sel.appendChild(o);
    const tr = el("tr");
    for (const v of [r.token, r.label, r.path, r.available ? "yes" : "NO", bytes(r.free_bytes), r.torrents]) {
      tr.appendChild(el("td", v));
    }
    const d = el("td");
    if (r.default) d.textContent = "default";
    else d.appendChild(actionButton("Make default", "default", () => api("POST", `/roots/${encodeURIComponent(r.token)}/default`).then(loadRoots)));
    tr.appendChild(d);
    body.appendChild(tr);
  }
}

function splitLabels(text) {
  return text.split(",").map((l) => l.trim()).filter((l) => l !== "");
}

async function applyDetail(ev) {
  ev.preventDefault();
  const id = detailId;
  const status = $("#detail-status");
  try {
    await api("PUT", `/torrents/${id}/labels`, { labels: splitLabels($("#detail-labels").value) });
    // Unfollowing first keeps the files where they are; following last
    // sends them to the category just chosen.
    const category = $("#detail-category").value;
    const follow = $("#detail-follow").checked;
    const setFollow = async () => {
      await api("PUT", `/torrents/${id}/follow_category`, { on: follow });
      detailFollow = follow;
    };
    if (!follow && detailFollow) await setFollow();
    if (category !== detailCategory) {
      await api("PUT", `/torrents/${id}/category`, { category });
      detailCategory = category;
    }
    if (follow && !detailFollow) await setFollow();
    // Another root: its files move there, and it is placed by hand.
    const root = $("#detail-root").value;
    if (root && root !== detailRoot) {
      await api("POST", `/torrents/${id}/move`, { root });
      detailRoot = root;
    }
    await api("PUT", `/torrents/${id}/limits`, {
      download: Number($("#detail-down").value) || 0, upload: Number($("#detail-up").value) || 0,
    });
    await api("PUT", `/torrents/${id}/sequential`, { on: $("#detail-seq").checked });
    await api("PUT", `/torrents/${id}/super_seeding`, { on: $("#detail-super").checked });
    // Its own share limits: an empty box follows the global one.
    const share = {};
    for (const [box, key] of [["#detail-ratio", "ratio_limit"], ["#detail-seeding", "seeding_time_limit_mins"],
      ["#detail-inactive", "inactive_seeding_time_limit_mins"]]) {
      const v = $(box).value.trim();
      if (v !== "") share[key] = Number(v);
    }
    if ($("#detail-action").value) share.share_limit_action = $("#detail-action").value;
    await api("PUT", `/torrents/${id}/share_limits`, share);
    status.textContent = "applied";
    detailDirty = false;
    refresh();
  } catch (e) {
    status.textContent = "not applied: " + e.message;
  }
}

async function addTorrent(ev) {
  ev.preventDefault();
  const file = $("#add-file").files[0];
  const magnet = $("#add-magnet").value.trim();
  const root = $("#add-root").value;
  const paused = $("#add-paused").checked;
  const labels = splitLabels($("#add-labels").value);
  const category = $("#add-category").value;
  const status = $("#add-status");
  try {
    let t;
    if (file) {
      const q = `?root=${encodeURIComponent(root)}&paused=${paused}` +
        `&labels=${encodeURIComponent(labels.join(","))}&category=${encodeURIComponent(category)}`;
      t = await api("POST", "/torrents" + q, await file.arrayBuffer(), "application/x-bittorrent");
    } else if (magnet) {
      t = await api("POST", "/torrents", { magnet, root, paused, labels, category });
    } else {
      status.textContent = "choose a .torrent file or paste a magnet link";
      return;
    }
    status.textContent = "added " + t.name;
    $("#add-form").reset();
    loadRoots();
    refresh();
  } catch (e) {
    status.textContent = "not added: " + e.message;
  }
}

// The alternative limits' button: lit while they are in force.
function showAltLimits(on) {
  const b = $("#alt-limits");
  b.hidden = false;
  b.classList.toggle("on", on);
  b.dataset.on = on ? "1" : "0";
  b.textContent = on ? "alternative limits: on" : "alternative limits: off";
}

async function toggleAltLimits() {
  const on = $("#alt-limits").dataset.on !== "1";
  try {
    const s = await api("PATCH", "/settings", { alt_limits: on });
    showAltLimits(s.alt_limits);
    refresh();
  } catch (e) {
    $("#totals").textContent = "not switched: " + e.message;
  }
}

// The settings as last loaded: their types say how the form's text is sent back.
let settingsShown = {};

async function loadSettings() {
  const s = await api("GET", "/settings");
  settingsShown = s;
  const form = $("#settings-form");
  form.replaceChildren();
  for (const [k, v] of Object.entries(s)) {
    // Switched by the header's button (a form loaded earlier would undo it).
    if (k === "alt_limits") continue;
    const label = el("label", k.replaceAll("_", " ") + " ");
    const input = el("input");
    input.name = k;
    if (typeof v === "boolean") {
      input.type = "checkbox";
      input.checked = v;
    } else {
      // A list (banned_ips) is edited as comma-separated text.
      input.value = Array.isArray(v) ? v.join(", ") : v;
    }
    label.appendChild(input);
    form.appendChild(label);
  }
  form.appendChild(el("button", "Save"));
}

async function saveSettings(ev) {
  ev.preventDefault();
  const patch = {};
  for (const input of $("#settings-form").querySelectorAll("input")) {
    const shown = settingsShown[input.name];
    const kind = typeof shown;
    patch[input.name] = Array.isArray(shown) ? input.value.split(/[\s,]+/).filter(Boolean)
      : kind === "number" ? Number(input.value) : kind === "boolean" ? input.checked : input.value;
  }
  try {
    await api("PATCH", "/settings", patch);
    $("#settings-status").textContent = "saved";
  } catch (e) {
    $("#settings-status").textContent = "not saved: " + e.message;
  }
}

function logLine(e) {
  const li = el("li", null, "lvl-" + e.level);
  const when = new Date(e.time_ms).toLocaleTimeString();
  const fields = Object.entries(e.fields || {}).map(([k, v]) => ` ${k}=${v}`).join("");
  li.textContent = `${when} ${e.level} ${e.message}${e.info_hash ? " [" + e.info_hash.slice(0, 8) + "]" : ""}${fields}`;
  const list = $("#log-lines");
  list.appendChild(li);
  while (list.children.length > 2000) list.firstChild.remove();
  list.scrollTop = list.scrollHeight;
}

async function startLogs() {
  if (logAbort) logAbort.abort();
  logAbort = new AbortController();
  const level = $("#log-level").value;
  $("#log-lines").replaceChildren();
  for (const e of await api("GET", `/logs?level=${level}&limit=500`)) logLine(e);
  // EventSource cannot send the token header: read the stream with fetch.
  const r = await fetch(`${API}/logs/stream?level=${level}`, {
    headers: { Authorization: "Bearer " + token }, signal: logAbort.signal,
  });
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = "", event = "";
  for (;;) {
    let chunk;
    try { chunk = await reader.read(); } catch (e) { return; }
    if (chunk.done) return;
    buf += dec.decode(chunk.value, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ") && event === "log") logLine(JSON.parse(line.slice(6)));
      else if (line.startsWith("data: ") && event === "lagged") logLine({ level: "WARN", message: line.slice(6) + " entries missed", time_ms: Date.now() });
    }
  }
}

function showView(name) {
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.dataset.view === name);
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + name;
  if (name === "roots") loadRoots();
  if (name === "categories") loadCategories();
  if (name === "settings") loadSettings();
  if (name === "logs") startLogs();
  else if (logAbort) { logAbort.abort(); logAbort = null; }
}

$("#login-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("#token").value.trim()); });
$("#add-form").addEventListener("submit", addTorrent);
$("#alt-limits").addEventListener("click", toggleAltLimits);
$("#detail-close").addEventListener("click", closeDetail);
// The .torrent comes with the token in a header, so through a blob.
$("#detail-export").addEventListener("click", async () => {
  const id = detailId;
  const r = await fetch(`${API}/torrents/${id}/torrent`, { headers: { Authorization: "Bearer " + token } });
  if (!r.ok) {
    $("#detail-status").textContent = (await r.json().catch(() => null))?.detail || r.statusText;
    return;
  }
  const a = el("a");
  a.href = URL.createObjectURL(await r.blob());
  a.download = `${id}.torrent`;
  a.click();
  URL.revokeObjectURL(a.href);
});
$("#detail-form").addEventListener("submit", applyDetail);
for (const ev of ["input", "change"]) $("#detail-form").addEventListener(ev, () => { detailDirty = true; });
$("#label-filter").addEventListener("change", refresh);
$("#category-filter").addEventListener("change", refresh);
$("#category-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const name = $("#category-name").value.trim();
    await api("PUT", `/categories/${encodeURIComponent(name)}`, { save_path: $("#category-path").value.trim() });
    $("#category-status").textContent = "saved";
    $("#category-form").reset();
    loadCategories();
  } catch (e) { $("#category-status").textContent = "not saved: " + e.message; }
});
$("#settings-form").addEventListener("submit", saveSettings);
$("#log-level").addEventListener("change", startLogs);
$("#root-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", "/roots", { token: $("#root-token").value, label: $("#root-label").value, path: $("#root-path").value });
    $("#root-status").textContent = "added";
    $("#root-form").reset();
    loadRoots();
  } catch (e) { $("#root-status").textContent = "not added: " + e.message; }
});
for (const t of document.querySelectorAll(".tab")) t.addEventListener("click", () => showView(t.dataset.view));

if (token) signIn(token); else showLogin();
setInterval(refresh, 1000);
