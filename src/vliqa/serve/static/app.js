// vliqa web app: plain JavaScript, no build step, no outside resources. Talks only to this server's /v1 API.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { info: null, token: sessionStorage.getItem("vliqa-token") || "", result: null, index: 0,
                window: "soft_tissue", urls: {}, historyOffset: 0, compareIndex: 0, chatId: null,
                pick: { a: null, b: null, ref: null } };
const ASPECTS = ["noise", "artifacts", "sharpness", "contrast", "texture"];
const PAGE = 15;

// ------------------------------------------------------------ API

function headers() {
  return state.token ? { Authorization: "Bearer " + state.token } : {};
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  if (!response.ok) {
    let body = {};
    try { body = await response.json(); } catch (e) { body = { message: response.statusText }; }
    const error = new Error(body.message || response.statusText);
    Object.assign(error, { status: response.status, body });
    throw error;
  }
  return response;
}

async function apiJson(path, options) { return (await api(path, options)).json(); }

async function blobUrl(key, path) {
  const blob = await (await api(path)).blob();
  if (state.urls[key]) URL.revokeObjectURL(state.urls[key]);
  state.urls[key] = URL.createObjectURL(blob);
  return state.urls[key];
}

function showError(error) {
  const box = $("message");
  const b = error.body || {};
  let text = b.error ? `${b.error}: ${b.message}` : String(error.message || error);
  if (b.hint) text += `\n${b.hint}`;
  if (b.limit) text += `\n(limit ${b.limit.name} = ${b.limit.value} ${b.limit.unit || ""})`;
  if (error.status === 401) { $("token-form").hidden = false; }
  box.textContent = text;
  box.hidden = false;
}

function clearError() { $("message").hidden = true; }

// ------------------------------------------------------------ start-up, token, tabs

async function start() {
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => showView(b.dataset.view)));
  $("token").value = state.token;
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("vliqa-token", state.token);
    clearError();
    refreshStatus();
  });
  setupDrop($("drop-assess"), (files, label) => submitAssess(files, label));
  $("input-assess").addEventListener("change", (e) => submitAssess([...e.target.files]));
  $("input-assess-folder").addEventListener("change", (e) => {
    const files = [...e.target.files];
    submitAssess(files, files.length ? (files[0].webkitRelativePath || "").split("/")[0] : null);
  });
  for (const [role, zone] of [["a", "drop-a"], ["b", "drop-b"], ["ref", "drop-ref"]]) {
    setupDrop($(zone), (files, label) => pickCompare(role, files, label));
    $("input-" + role).addEventListener("change", (e) => pickCompare(role, [...e.target.files]));
  }
  $("btn-compare").addEventListener("click", submitCompare);
  $("slice-range").addEventListener("input", (e) => showSlice(+e.target.value));
  $("viewer").addEventListener("wheel", (e) => {
    e.preventDefault();
    showSlice(state.index + (e.deltaY > 0 ? 1 : -1));
  }, { passive: false });
  $("opt-heatmap").addEventListener("change", () => showSlice(state.index));
  $("btn-report").addEventListener("click", viewReport);
  $("btn-close-report").addEventListener("click", () => { $("report-panel").hidden = true; });
  for (const fmt of ["html", "pdf", "md", "json"]) {
    $("dl-" + fmt).addEventListener("click", (e) => { e.preventDefault(); downloadReport(fmt); });
  }
  $("chat-form").addEventListener("submit", (e) => { e.preventDefault(); sendQuestion(); });
  $("compare-range").addEventListener("input", (e) => showCompareSlice(+e.target.value));
  $("btn-prev").addEventListener("click", () => loadHistory(Math.max(0, state.historyOffset - PAGE)));
  $("btn-next").addEventListener("click", () => loadHistory(state.historyOffset + PAGE));
  await refreshStatus();
}

async function refreshStatus() {
  try {
    state.info = await apiJson("/v1/info");
  } catch (error) { $("server-status").textContent = "server unreachable"; return; }
  const info = state.info;
  $("version").textContent = "vliqa " + info.features.version;
  $("token-form").hidden = !(info.auth_required && !state.token);
  const status = $("server-status");
  status.className = "status " + (info.ready ? "ok" : "bad");
  status.textContent = info.ready ? `ready · model ${info.features.model}` +
    (info.features.vlm ? " · VLM" : "") : "loading models…";
  $("opt-describe").disabled = !info.features.vlm;
  for (const [id, target] of [["windows", showSlice], ["windows-compare", showCompareSlice]]) {
    const box = $(id);
    box.replaceChildren(...info.windows.map((w) => {
      const b = document.createElement("button");
      b.textContent = w.replace("_", " ");
      b.dataset.window = w;
      b.className = w === state.window ? "active" : "";
      b.addEventListener("click", () => { state.window = w; markWindows(); target(id === "windows" ? state.index : state.compareIndex); });
      return b;
    }));
  }
  if (!info.ready) setTimeout(refreshStatus, 2000);
}

function markWindows() {
  document.querySelectorAll(".windows button").forEach((b) => b.classList.toggle("active", b.dataset.window === state.window));
}

function showView(name) {
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== "view-" + name; });
  document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.dataset.view === name));
  if (name === "history") loadHistory(state.historyOffset);
}

// ------------------------------------------------------------ drag and drop (files, folders, zips)

function setupDrop(zone, onFiles) {
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const entries = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
    let files = [];
    let label = null;
    if (entries.length) {
      for (const entry of entries) files = files.concat(await readEntry(entry));
      if (entries.length === 1 && entries[0].isDirectory) label = entries[0].name;
    } else {
      files = [...e.dataTransfer.files];
    }
    onFiles(files, label);
  });
}

function readEntry(entry) {
  if (entry.isFile) return new Promise((resolve, reject) => entry.file((f) => resolve([f]), reject));
  return new Promise((resolve, reject) => {
    const reader = entry.createReader();
    let all = [];
    const next = () => reader.readEntries(async (batch) => {
      if (!batch.length) {
        const nested = await Promise.all(all.map(readEntry));
        resolve(nested.flat());
        return;
      }
      all = all.concat(batch);
      next();
    }, reject);
    next();
  });
}

// ------------------------------------------------------------ assess

async function submitAssess(files, label) {
  if (!files.length) return;
  clearError();
  const form = new FormData();
  for (const f of files) form.append("file", f, f.name);
  if (label) form.append("label", label);
  form.append("measures", $("opt-measures").checked ? "true" : "false");
  const path = $("opt-describe").checked ? "/v1/describe" : "/v1/assess";
  setProgress("progress-assess", 0, 1, "uploading…");
  try {
    const response = await api(path, { method: "POST", body: form });
    let record = await response.json();
    if (response.status === 202) record = await pollJob(record.id, "progress-assess");
    $("progress-assess").hidden = true;
    await openResult(record.id);
  } catch (error) { $("progress-assess").hidden = true; showError(error); }
}

function setProgress(id, done, total, text) {
  const box = $(id);
  box.hidden = false;
  box.querySelector(".bar").style.width = `${total ? (100 * done) / total : 0}%`;
  box.querySelector(".text").textContent = text;
}

async function pollJob(jobId, progressId) {
  for (;;) {
    const job = await apiJson(`/v1/jobs/${jobId}`);
    const p = job.progress;
    setProgress(progressId, p.done, p.total, `${job.status} ${p.done} / ${p.total}`);
    if (job.status === "done") return apiJson(`/v1/results/${jobId}`);
    if (job.status === "failed") {
      const error = new Error(job.error.message);
      error.body = job.error;
      throw error;
    }
    await new Promise((r) => setTimeout(r, 700));
  }
}

async function openResult(id) {
  const record = await apiJson(`/v1/results/${id}`);
  if (record.operation === "compare") { showView("compare"); return showComparison(record); }
  showView("assess");
  state.result = record;
  state.chatId = null;
  $("chat-log").replaceChildren();
  $("report-panel").hidden = true;
  const r = record.result;
  const volume = r.kind === "volume";
  const count = volume ? r.slices.length : 1;
  $("result").hidden = false;
  $("slice-range").max = count - 1;
  $("result-label").textContent = `${record.label} · ${record.operation} · ${record.inputs[0].format}`;
  renderPlot(record);
  const worst = volume && r.summary.worst_slices.length ? r.summary.worst_slices[0] : 0;
  await showSlice(volume ? Math.floor(count / 2) : 0);
  renderScore(record, volume ? null : r);
  $("chat").hidden = !(state.info.features.vlm || state.info.features.chat);
  return worst;
}

function levelClass(level) { return level ? level.toLowerCase() : ""; }

function renderScore(record, slice) {
  const r = record.result;
  const volume = r.kind === "volume";
  const one = slice || (volume ? r.slices[state.index] : r);
  const score = volume && !slice ? r.summary.mean : one.score;
  const badge = $("score-badge");
  badge.textContent = score == null ? "–" : score.toFixed(2);
  const level = volume && !slice ? levelOf(score, one.scale) : one.level;
  badge.className = "badge " + levelClass(level);
  const levelText = level ? level[0].toUpperCase() + level.slice(1) : `own scale (${one.model})`;
  const where = volume ? ` (slice ${state.index + 1})` : "";
  $("score-level").textContent = volume ? `${levelText}: mean of ${r.slices.length} slices; slice ${state.index + 1}: ` +
    `${one.score.toFixed(2)}` : levelText;
  $("score-uncertainty").textContent = one.uncertainty == null ? "" : `uncertainty ± ${one.uncertainty.toFixed(2)}${where}` +
    (one.out_of_distribution ? ` · out of distribution: ${one.ood_reason}` : "");
  const aspects = volume ? r.summary.aspect_means : one.aspects;
  $("aspects").replaceChildren(...ASPECTS.filter((a) => a in aspects).flatMap((a) => {
    const name = document.createElement("span"); name.textContent = a;
    const track = document.createElement("div"); track.className = "track";
    const fill = document.createElement("div"); fill.className = "fill";
    fill.style.width = `${Math.max(0, Math.min(4, aspects[a])) * 25}%`;
    track.append(fill);
    const value = document.createElement("span"); value.textContent = aspects[a].toFixed(2);
    return [name, track, value];
  }));
  $("description").textContent = (volume ? `Slice ${state.index + 1}: ` : "") + one.description;
  $("distortions").replaceChildren(...one.distortions.map((d) => {
    const li = document.createElement("li");
    li.textContent = `${d.name} (confidence ${d.confidence.toFixed(2)}): ${d.evidence.join("; ")}`;
    return li;
  }));
}

function levelOf(score, scale) {
  if (scale !== "0-4" || score == null) return null;
  return ["bad", "poor", "fair", "good", "excellent"][Math.max(0, Math.min(4, Math.round(score)))];
}

async function showSlice(index) {
  const record = state.result;
  if (!record) return;
  const count = +$("slice-range").max + 1;
  index = Math.max(0, Math.min(count - 1, index));
  state.index = index;
  $("slice-range").value = index;
  $("slice-label").textContent = `slice ${index + 1} / ${count}`;
  const id = record.id;
  try {
    $("slice-img").src = await blobUrl("slice", `/v1/results/${id}/slices/${index}.png?window=${state.window}`);
    const overlay = $("heatmap-img");
    overlay.hidden = !$("opt-heatmap").checked;
    if (!overlay.hidden) overlay.src = await blobUrl("heat", `/v1/results/${id}/heatmaps/${index}.png`);
  } catch (error) { showError(error); }
  if (record.result.kind === "volume") renderScore(record, null);
  markPlot(index);
}

// ------------------------------------------------------------ per-slice plot (SVG): click a point to jump there

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function renderPlot(record) {
  const box = $("plot");
  const r = record.result;
  if (r.kind !== "volume") { box.hidden = true; return; }
  box.hidden = false;
  const W = 560, H = 190, L = 34, R = 10, T = 10, B = 24;
  const scores = r.slices.map((s) => s.score);
  const own = r.slices.some((s) => s.scale !== "0-4");
  const lo = own ? Math.min(...scores) : 0, hi = own ? Math.max(...scores) : 4;
  const x = (i) => L + (scores.length > 1 ? (i * (W - L - R)) / (scores.length - 1) : (W - L - R) / 2);
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / ((hi - lo) || 1));
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, id: "plot-svg" });
  for (let v = 0; v <= 4 && !own; v++) {
    plot.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#2c333d" }));
    const t = svg("text", { x: 8, y: y(v) + 4, fill: "#97a0ad", "font-size": 11 }); t.textContent = v; plot.append(t);
  }
  const band = r.slices.map((s, i) => [x(i), y(Math.min(hi, s.score + (s.uncertainty || 0)))])
    .concat(r.slices.map((s, i) => [x(i), y(Math.max(lo, s.score - (s.uncertainty || 0)))]).reverse());
  plot.append(svg("polygon", { points: band.map((p) => p.join(",")).join(" "), fill: "#4ea1ff33" }));
  plot.append(svg("polyline", { points: scores.map((v, i) => `${x(i)},${y(v)}`).join(" "), fill: "none",
                                stroke: "#4ea1ff", "stroke-width": 2 }));
  plot.append(svg("line", { id: "plot-cursor", x1: 0, x2: 0, y1: T, y2: H - B, stroke: "#e6e9ee", "stroke-dasharray": "3 3" }));
  const worst = new Set(r.summary.worst_slices);
  scores.forEach((v, i) => {
    const dot = svg("circle", { cx: x(i), cy: y(v), r: 4, class: "pt", "data-index": i,
                                fill: worst.has(i) ? "#d9534f" : "#4ea1ff" });
    const title = svg("title", {}); title.textContent = `slice ${i + 1}: ${v.toFixed(2)}`; dot.append(title);
    dot.addEventListener("click", () => showSlice(i));
    plot.append(dot);
  });
  const label = svg("text", { x: W / 2, y: H - 6, fill: "#97a0ad", "font-size": 11, "text-anchor": "middle" });
  label.textContent = "slice (click a point to show it; red: worst slices)";
  plot.append(label);
  box.replaceChildren(plot);
  box.dataset.scale = JSON.stringify({ L, R, W, n: scores.length });
}

function markPlot(index) {
  const cursor = document.getElementById("plot-cursor");
  if (!cursor) return;
  const { L, R, W, n } = JSON.parse($("plot").dataset.scale);
  const cx = L + (n > 1 ? (index * (W - L - R)) / (n - 1) : (W - L - R) / 2);
  cursor.setAttribute("x1", cx); cursor.setAttribute("x2", cx);
}

// ------------------------------------------------------------ reports

async function viewReport() {
  try {
    $("report-frame").src = await blobUrl("report", `/v1/results/${state.result.id}/report?format=html`);
    $("report-panel").hidden = false;
    $("report-panel").scrollIntoView({ behavior: "smooth" });
  } catch (error) { showError(error); }
}

async function downloadReport(fmt) {
  try {
    const url = await blobUrl("download", `/v1/results/${state.result.id}/report?format=${fmt}&download=true`);
    const a = document.createElement("a");
    a.href = url;
    a.download = `vliqa-report-${state.result.id.slice(0, 12)}.${fmt}`;
    document.body.append(a); a.click(); a.remove();
  } catch (error) { showError(error); }
}

// ------------------------------------------------------------ questions (chat when the server has it)

async function sendQuestion() {
  const text = $("chat-input").value.trim();
  if (!text || !state.result) return;
  $("chat-input").value = "";
  addChat("q", text);
  try {
    let answer;
    if (state.info.features.chat) {
      const body = { text, conversation_id: state.chatId, result_id: state.chatId ? null : state.result.id };
      const reply = await apiJson("/v1/chat", { method: "POST", body: JSON.stringify(body),
                                                headers: { "Content-Type": "application/json" } });
      state.chatId = reply.conversation_id;
      answer = reply.reply.text;
    } else {
      const reply = await apiJson(`/v1/results/${state.result.id}/ask`, { method: "POST",
        body: JSON.stringify({ question: text }), headers: { "Content-Type": "application/json" } });
      answer = reply.answer;
    }
    addChat("a", answer);
  } catch (error) { addChat("a", "error: " + (error.body ? error.body.message : error.message)); }
}

function addChat(kind, text) {
  const div = document.createElement("div");
  div.className = kind;
  div.textContent = text;
  $("chat-log").append(div);
  $("chat-log").scrollTop = $("chat-log").scrollHeight;
}

// ------------------------------------------------------------ compare

function pickCompare(role, files, label) {
  if (!files.length) return;
  state.pick[role] = { files, label };
  $("picked-" + role).textContent = label || (files.length === 1 ? files[0].name : `${files.length} files`);
  $("btn-compare").disabled = !(state.pick.a && state.pick.b);
}

async function submitCompare() {
  clearError();
  const form = new FormData();
  for (const [role, field] of [["a", "a"], ["b", "b"], ["ref", "reference"]]) {
    const pick = state.pick[role];
    if (!pick) continue;
    for (const f of pick.files) form.append(field, f, f.name);
    if (pick.label && role !== "ref") form.append("label_" + role, pick.label);
  }
  setProgress("progress-compare", 0, 1, "uploading…");
  try {
    const response = await api("/v1/compare", { method: "POST", body: form });
    let record = await response.json();
    if (response.status === 202) record = await pollJob(record.id, "progress-compare");
    $("progress-compare").hidden = true;
    await showComparison(await apiJson(`/v1/results/${record.id}`));
  } catch (error) { $("progress-compare").hidden = true; showError(error); }
}

async function showComparison(record) {
  state.comparison = record;
  const c = record.result;
  $("comparison").hidden = false;
  const who = { A: "Image A is better", B: "Image B is better", tie: "No clear difference (tie)" }[c.preferred];
  $("verdict").textContent = `${who} · probability ${(c.probability * 100).toFixed(0)} %`;
  $("explanation").textContent = c.explanation;
  $("cap-a").textContent = "A: " + (c.a || "");
  $("cap-b").textContent = "B: " + (c.b || "");
  $("img-a").parentElement.classList.toggle("preferred", c.preferred === "A");
  $("img-b").parentElement.classList.toggle("preferred", c.preferred === "B");
  const counts = record.inputs.filter((i) => i.role === "a" || i.role === "b").map((i) => i.n_slices);
  $("compare-range").max = Math.max(0, Math.min(...counts) - 1);
  await showCompareSlice(Math.floor(Math.min(...counts) / 2));
}

async function showCompareSlice(index) {
  const record = state.comparison;
  if (!record) return;
  index = Math.max(0, Math.min(+$("compare-range").max, index));
  state.compareIndex = index;
  $("compare-range").value = index;
  $("compare-label").textContent = `slice ${index + 1} / ${+$("compare-range").max + 1}`;
  try {
    for (const role of ["a", "b"]) {
      $("img-" + role).src = await blobUrl("cmp-" + role,
        `/v1/results/${record.id}/slices/${index}.png?window=${state.window}&role=${role}`);
    }
  } catch (error) { showError(error); }
}

// ------------------------------------------------------------ history

async function loadHistory(offset) {
  try {
    const page = await apiJson(`/v1/results?limit=${PAGE}&offset=${offset}`);
    state.historyOffset = offset;
    $("history-rows").replaceChildren(...page.items.map((item) => {
      const tr = document.createElement("tr");
      const verdict = item.kind === "comparison" ? `prefers ${item.level}` : (item.level || "");
      const cells = [new Date(item.created).toLocaleString(), item.label, item.operation, item.status,
                     item.score == null ? "" : item.score.toFixed(2), verdict];
      for (const text of cells) { const td = document.createElement("td"); td.textContent = text; tr.append(td); }
      tr.addEventListener("click", () => { if (item.status === "done") openResult(item.id).catch(showError); });
      return tr;
    }));
    $("history-page").textContent = page.total ? `${offset + 1}–${offset + page.items.length} of ${page.total}` : "no results yet";
    $("btn-prev").disabled = offset === 0;
    $("btn-next").disabled = !page.next;
  } catch (error) { showError(error); }
}

start();
