// The mmserve playground: plain JavaScript against the server's own API (same origin).
// Each panel shows what a route answers; an error is shown as the server words it.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { models: [], image: null, audio: null, jobsTimer: null };

// --- calling the API ---------------------------------------------------------------

class ApiError extends Error {}

// With auth on, every call carries the key typed in the header's field (kept for this tab only).
const KEY_STORAGE = "mmserve-api-key";
function authHeaders() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function api(path, options = {}) {
  const init = { method: options.method || "GET", headers: authHeaders() };
  if (options.json !== undefined) {
    init.method = options.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.json);
  } else if (options.form) {
    init.method = "POST";
    init.body = options.form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(`The server did not answer (${e.message}).`);
  }
  if (!response.ok) throw await errorOf(response);
  return options.raw ? response : response.json();
}

async function errorOf(response) {
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON: a proxy's page */ }
  const error = body && body.error;
  if (!error) return new ApiError(`HTTP ${response.status} ${response.statusText}`);
  const where = error.param ? ` (${error.param})` : "";
  const id = body.request_id ? `\nrequest id: ${body.request_id}` : "";
  return new ApiError(`${response.status} ${error.code || error.type}${where}: ${error.message}${id}`);
}

// Run `work`, showing its error (or clearing the old one) in the panel's alert box.
async function guarded(errorBox, work) {
  $(errorBox).textContent = "";
  try {
    return await work();
  } catch (e) {
    $(errorBox).textContent = e instanceof ApiError ? e.message : `Error: ${e.message}`;
    return undefined;
  }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

const able = (capability) => state.models.filter((m) => m.capabilities.includes(capability) && m.state !== "failed");

function fillSelect(select, ids) {
  select.replaceChildren(...ids.map((id) => el("option", { value: id, text: id })));
}

function bars(list, labels) {
  list.replaceChildren(...labels.map(({ label, score }) => el("li", {},
    el("span", { text: label }),
    el("span", { class: "bar", style: `width:${Math.max(0, Math.min(1, score)) * 100}%`, role: "img", "aria-label": `${(score * 100).toFixed(1)} percent` }),
    el("span", { class: "num", text: `${(score * 100).toFixed(1)}%` }))));
}

function readDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function contentPart(file) {
  const url = await readDataUrl(file);
  if (file.type.startsWith("audio/")) {
    const format = (file.type.split("/")[1] || "wav").split(";")[0].replace("x-", "").replace("mpeg", "mp3");
    return { type: "input_audio", input_audio: { data: url.split(",")[1], format } };
  }
  return { type: "image_url", image_url: { url } };
}

// A drop zone: a <label> around a file input (so it is focusable and keyboard-usable).
function dropZone(zoneId, inputId, onFile) {
  const zone = $(zoneId);
  const input = $(inputId);
  input.addEventListener("change", () => input.files[0] && onFile(input.files[0]));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files[0]) onFile(e.dataTransfer.files[0]);
  });
}

// --- models ------------------------------------------------------------------------

async function loadModels() {
  await guarded("models-error", async () => {
    const [models, ready] = await Promise.all([
      api("/v1/models"),
      fetch("/readyz", { headers: authHeaders() }).then((r) => r.json()),
    ]);
    state.models = models.data;
    $("ready").textContent = ready.ready ? "All models ready." : "Some models are not ready yet.";
    $("models-table").tBodies[0].replaceChildren(...state.models.map((m) => el("tr", {},
      el("td", { text: m.id }), el("td", { text: m.modality }),
      el("td", { text: m.capabilities.join(", ") }),
      el("td", { text: m.state + (m.error ? `: ${m.error}` : "") }),
      el("td", { text: String(m.queue_depth) }))));
    fillSelect($("text-model"), able("embed_text").map((m) => m.id));
    enableImageButtons();
    await showChatIfServed();
  });
}

// --- image -------------------------------------------------------------------------

function enableImageButtons() {
  const has = Boolean(state.image);
  $("caption-btn").disabled = !has || !(able("caption_image").length || able("classify_image").length);
  $("ocr-btn").disabled = !has || !able("ocr").length;
  $("zeroshot-btn").disabled = !has || !able("embed_image").length;
}

function chooseImage(file) {
  state.image = file;
  $("image-preview").src = URL.createObjectURL(file);
  $("image-figure").hidden = false;
  $("ocr-boxes").replaceChildren();
  for (const id of ["caption", "ocr-text"]) $(id).textContent = "";
  $("image-labels").replaceChildren();
  enableImageButtons();
}

function imageForm() {
  const form = new FormData();
  form.append("file", state.image, state.image.name || "image");
  return form;
}

async function caption() {
  await guarded("image-error", async () => {
    $("caption").textContent = "Working…";
    const body = await api("/v1/images/captions", { form: imageForm() });
    $("caption").textContent = `${body.caption}  (${body.method}, ${body.model})`;
    bars($("image-labels"), body.labels);
  });
  if ($("caption").textContent === "Working…") $("caption").textContent = "";
}

async function ocr() {
  await guarded("image-error", async () => {
    const body = await api("/v1/images/ocr", { form: imageForm() });
    $("ocr-text").textContent = body.text || "(no text found)";
    const img = $("image-preview");
    const svg = $("ocr-boxes");
    svg.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.replaceChildren(...body.lines.map((line) => {
      const polygon = document.createElementNS("http://www.w3.org/2000/svg", "polygon");
      polygon.setAttribute("points", line.box.map(([x, y]) => `${x},${y}`).join(" "));
      const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
      title.textContent = `${line.text} (${(line.confidence * 100).toFixed(0)}%)`;
      polygon.append(title);
      return polygon;
    }));
  });
}

async function zeroShot(event) {
  event.preventDefault();
  await guarded("image-error", async () => {
    const labels = $("zeroshot-labels").value.split(",").map((s) => s.trim()).filter(Boolean);
    const body = await api("/v1/classifications", {
      json: { input: await contentPart(state.image), labels, model: able("embed_image")[0].id },
    });
    bars($("image-labels"), body.data);
  });
}

// --- audio -------------------------------------------------------------------------

function chooseAudio(blob) {
  state.audio = blob;
  $("audio-player").src = URL.createObjectURL(blob);
  $("audio-player").hidden = false;
  $("transcribe-btn").disabled = !able("transcribe").length;
  $("tags-btn").disabled = !able("classify_audio").length;
}

let recorder = null;
async function toggleRecording() {
  const button = $("record-btn");
  if (recorder && recorder.state === "recording") {
    recorder.stop();
    return;
  }
  await guarded("audio-error", async () => {
    if (!navigator.mediaDevices || !window.MediaRecorder) throw new Error("this browser cannot record (it needs HTTPS or localhost)");
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => chunks.push(e.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      const type = recorder.mimeType || "audio/webm";
      chooseAudio(new File(chunks, `recording.${type.includes("ogg") ? "ogg" : "webm"}`, { type }));
      button.textContent = "Record";
    };
    recorder.start();
    button.textContent = "Stop recording";
  });
}

async function transcribe() {
  const out = $("transcript");
  const rows = $("segments").tBodies[0];
  out.textContent = "";
  rows.replaceChildren();
  await guarded("audio-error", async () => {
    const form = new FormData();
    form.append("file", state.audio, state.audio.name || "audio");
    form.append("stream", "true");
    const response = await api("/v1/audio/transcriptions", { form, raw: true });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const events = buffer.split("\n\n");
      buffer = events.pop();
      for (const raw of events) showTranscriptEvent(JSON.parse(raw.replace(/^data: /, "")), out, rows);
    }
  });
}

function showTranscriptEvent(event, out, rows) {
  if (event.type === "error") throw new ApiError(`${event.error.code}: ${event.error.message}`);
  if (event.type === "transcript.text.delta") {
    out.textContent += event.delta;
    const s = event.segment;
    rows.append(el("tr", {}, el("td", { text: `${s.start.toFixed(1)} s` }),
      el("td", { text: `${s.end.toFixed(1)} s` }), el("td", { text: s.text })));
    $("segments").hidden = false;
  } else if (event.type === "transcript.text.done") {
    out.textContent = event.text || "(no speech heard)";
  }
}

async function soundTags() {
  await guarded("audio-error", async () => {
    const form = new FormData();
    form.append("file", state.audio, state.audio.name || "audio");
    const body = await api("/v1/audio/classifications", { form });
    $("tags-chart").replaceChildren(tagsChart(body));
  });
}

// Top labels' scores over the clip's frames, one line each.
function tagsChart(body) {
  const top = body.labels.slice(0, 4).map((l) => l.label);
  const colours = ["#0b5fcc", "#d9480f", "#2b8a3e", "#862e9c"];
  const width = 600, height = 180, pad = 36;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + 20 * top.length}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Scores over ${body.duration.toFixed(1)} s of: ${top.join(", ")}`);
  const x = (t) => pad + (t / Math.max(body.duration, 1e-6)) * (width - 2 * pad);
  const y = (s) => height - pad - s * (height - 2 * pad);
  const axes = document.createElementNS(ns, "polyline");
  axes.setAttribute("points", `${pad},${y(1)} ${pad},${y(0)} ${width - pad},${y(0)}`);
  axes.setAttribute("fill", "none");
  axes.setAttribute("stroke", "#8c959f");
  svg.append(axes);
  for (const [value, label] of [[1, "100%"], [0.5, "50%"], [0, "0"]]) {
    const tick = document.createElementNS(ns, "text");
    tick.setAttribute("x", pad - 4);
    tick.setAttribute("y", y(value) + 4);
    tick.setAttribute("text-anchor", "end");
    tick.setAttribute("font-size", "11");
    tick.textContent = label;
    svg.append(tick);
  }
  top.forEach((label, i) => {
    const points = body.frames.map((f) => {
      const found = f.labels.find((l) => l.label === label);
      return `${x((f.start + f.end) / 2).toFixed(1)},${y(found ? found.score : 0).toFixed(1)}`;
    });
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", colours[i]);
    line.setAttribute("stroke-width", "2");
    for (const point of points) {
      const [cx, cy] = point.split(",");
      const dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", cx);
      dot.setAttribute("cy", cy);
      dot.setAttribute("r", "3");
      dot.setAttribute("fill", colours[i]);
      svg.append(dot);
    }
    const key = document.createElementNS(ns, "text");
    key.setAttribute("x", pad);
    key.setAttribute("y", height + 14 + 20 * i);
    key.setAttribute("fill", colours[i]);
    key.textContent = `${label} (${(body.labels[i].score * 100).toFixed(0)}%)`;
    svg.append(line, key);
  });
  const axis = document.createElementNS(ns, "text");
  axis.setAttribute("x", width - pad);
  axis.setAttribute("y", height - 8);
  axis.setAttribute("text-anchor", "end");
  axis.textContent = `${body.duration.toFixed(1)} s`;
  svg.append(axis);
  return svg;
}

// --- text embeddings ---------------------------------------------------------------

async function compareSentences(event) {
  event.preventDefault();
  await guarded("text-error", async () => {
    const lines = $("sentences").value.split("\n").map((s) => s.trim()).filter(Boolean).slice(0, 12);
    const body = await api("/v1/embeddings", {
      json: { model: $("text-model").value, input: lines, encoding_format: "float" },
    });
    const vectors = body.data.map((d) => d.embedding);
    const cos = (a, b) => {
      let dot = 0, na = 0, nb = 0;
      for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
      return dot / Math.sqrt(na * nb || 1);
    };
    const head = el("tr", {}, el("th", {}), ...lines.map((_, j) => el("th", { scope: "col", text: `#${j + 1}` })));
    const rows = lines.map((line, i) => el("tr", {}, el("th", { scope: "row", text: `#${i + 1} ${line}` }),
      ...vectors.map((v, j) => {
        const s = cos(vectors[i], v);
        return el("td", { style: `background: rgba(11, 95, 204, ${Math.max(0.08, s).toFixed(2)})`, text: s.toFixed(2) });
      })));
    $("similarity").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  });
}

// --- search ------------------------------------------------------------------------

async function loadCollections() {
  await guarded("search-error", async () => {
    const body = await api("/v1/collections");
    fillSelect($("search-collection"), body.data.map((c) => c.name));
  });
}

async function search(event) {
  event.preventDefault();
  await guarded("search-error", async () => {
    const collection = $("search-collection").value;
    if (!collection) throw new Error("there is no collection yet: index a folder in the Jobs panel");
    const file = $("search-file").files[0];
    const query = file ? await contentPart(file) : $("search-text").value;
    const body = await api(`/v1/collections/${encodeURIComponent(collection)}/search`, {
      json: { query, top_k: Number($("search-k").value) || 8 },
    });
    $("hits").replaceChildren(...body.data.map((hit) => hitCard(collection, hit)));
    if (!body.data.length) $("hits").replaceChildren(el("li", { text: "No results." }));
  });
}

function hitCard(collection, hit) {
  const name = hit.metadata.name || hit.id;
  const card = el("li", {});
  if (hit.modality === "image") {
    const path = `/v1/collections/${encodeURIComponent(collection)}/items/${encodeURIComponent(hit.id)}/thumbnail?size=160`;
    const img = el("img", { alt: name, loading: "lazy", width: "160", height: "112" });
    card.append(img);
    showThumbnail(img, path);
  }
  card.append(el("strong", { text: name }), el("br"), el("span", { text: `${hit.modality} · score ${hit.score.toFixed(3)}` }));
  return card;
}

// --- fusion ------------------------------------------------------------------------

async function loadFusion() {
  await guarded("fusion-error", async () => {
    const body = await api("/v1/fusion/models");
    state.fusion = body.data;
    $("fusion-none").hidden = body.data.length > 0;
    $("fusion-form").hidden = body.data.length === 0;
    fillSelect($("fusion-model"), body.data.map((m) => m.id));
    showFusionFields();
  });
}

function showFusionFields() {
  const model = (state.fusion || []).find((m) => m.id === $("fusion-model").value);
  const version = model && model.versions.find((v) => v.version === model.active_version);
  const modalities = version ? Object.keys(version.modalities || {}) : [];
  $("fusion-fields").replaceChildren(...modalities.map((name) => {
    const id = `fusion-${name}`;
    const input = name === "text" ? el("input", { id }) : el("input", { id, type: "file", accept: `${name}/*` });
    return el("div", {}, el("label", { for: id, text: name }), input);
  }));
}

async function predict(event) {
  event.preventDefault();
  await guarded("fusion-error", async () => {
    const form = new FormData();
    form.append("model", $("fusion-model").value);
    for (const input of $("fusion-fields").querySelectorAll("input")) {
      const name = input.id.replace("fusion-", "");
      if (input.type === "file") { if (input.files[0]) form.append(name, input.files[0]); }
      else if (input.value) form.append(name, input.value);
    }
    const body = await api("/v1/predict", { form });
    $("fusion-result").textContent = body.label !== undefined && body.label !== null
      ? `${body.label}` : `value ${body.value}`;
    bars($("fusion-bars"), Object.entries(body.probabilities || {}).map(([label, score]) => ({ label, score })));
  });
}

// --- jobs --------------------------------------------------------------------------

async function loadJobs() {
  const body = await guarded("jobs-error", () => api("/v1/jobs?limit=10"));
  if (!body) return;
  $("job-list").replaceChildren(...body.data.map(jobItem));
  const live = body.data.some((j) => ["queued", "running", "interrupted"].includes(j.state));
  clearTimeout(state.jobsTimer);
  if (live) state.jobsTimer = setTimeout(loadJobs, 1000);
  else loadCollections();
}

function jobItem(job) {
  const { done, total } = job.progress;
  const item = el("li", {}, el("strong", { text: `${job.type} ` }), el("span", { text: `${job.state} · ${done}${total ? ` / ${total}` : ""}` }));
  const bar = el("progress", { max: String(total || 1), "aria-label": `progress of job ${job.id}` });
  if (total) bar.value = done;
  item.append(bar);
  if (job.error) item.append(el("div", { class: "error", text: job.error }));
  if (job.result && typeof job.result.report === "string") {
    item.append(" ", el("a", { href: `/v1/jobs/${job.id}/report`, target: "_blank", text: "HTML report" }));
  }
  if (["queued", "running"].includes(job.state)) {
    const cancel = el("button", { type: "button", text: "Cancel" });
    cancel.addEventListener("click", () => guarded("jobs-error", () => api(`/v1/jobs/${job.id}`, { method: "DELETE" })).then(loadJobs));
    item.append(cancel);
  }
  return item;
}

async function startJob(event) {
  event.preventDefault();
  await guarded("jobs-error", () => api("/v1/jobs", {
    json: { type: "index", params: { path: $("job-path").value, collection: $("job-collection").value } },
  }));
  loadJobs();
}

// An <img> cannot send a header: with a key set, the thumbnail is fetched and shown as a blob.
function showThumbnail(img, path) {
  if (!sessionStorage.getItem(KEY_STORAGE)) { img.src = path; return; }
  api(path, { raw: true }).then((r) => r.blob())
    .then((blob) => { img.src = URL.createObjectURL(blob); })
    .catch(() => { img.alt = `${img.alt} (thumbnail refused)`; });
}

function useKey(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key); else sessionStorage.removeItem(KEY_STORAGE);
  $("api-key-state").textContent = key ? "Key set for this tab." : "No key: calls go without one.";
  loadModels();
}

// --- chat: only when the server has /v1/chat/completions and a model for it ---------

async function showChatIfServed() {
  const doc = await fetch("/openapi.json", { headers: authHeaders() }).then((r) => r.json()).catch(() => ({ paths: {} }));
  const chatters = state.models.filter((m) => m.capabilities.some((c) => /chat|generat/.test(c)));
  const served = Boolean(doc.paths && doc.paths["/v1/chat/completions"]) && chatters.length > 0;
  $("chat").hidden = !served;
  $("chat-link").hidden = !served;
  if (served) fillSelect($("chat-model"), chatters.map((m) => m.id));
}

const chatHistory = [];
async function sendChat(event) {
  event.preventDefault();
  const text = $("chat-input").value.trim();
  if (!text) return;
  chatHistory.push({ role: "user", content: text });
  $("chat-log").append(el("li", { text: `you: ${text}` }));
  $("chat-input").value = "";
  await guarded("chat-error", async () => {
    const body = await api("/v1/chat/completions", { json: { model: $("chat-model").value, messages: chatHistory } });
    const reply = body.choices[0].message;
    chatHistory.push(reply);
    $("chat-log").append(el("li", { text: `${$("chat-model").value}: ${reply.content}` }));
  });
}

// --- wiring ------------------------------------------------------------------------

function wire() {
  $("models-refresh").addEventListener("click", loadModels);
  dropZone("image-drop", "image-file", chooseImage);
  $("caption-btn").addEventListener("click", caption);
  $("ocr-btn").addEventListener("click", ocr);
  $("zeroshot-form").addEventListener("submit", zeroShot);
  dropZone("audio-drop", "audio-file", chooseAudio);
  $("record-btn").addEventListener("click", toggleRecording);
  $("transcribe-btn").addEventListener("click", transcribe);
  $("tags-btn").addEventListener("click", soundTags);
  $("text-form").addEventListener("submit", compareSentences);
  $("search-form").addEventListener("submit", search);
  $("fusion-model").addEventListener("change", showFusionFields);
  $("fusion-form").addEventListener("submit", predict);
  $("job-form").addEventListener("submit", startJob);
  $("chat-form").addEventListener("submit", sendChat);
  $("key-form").addEventListener("submit", useKey);
  $("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
  loadModels();
  loadCollections();
  loadFusion();
  loadJobs();
}

wire();
