// The rlfn serve page: plain JavaScript, no build step, no network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { models: [], items: [], selected: null, busy: false, maxBytes: 0 };
const CONCURRENT = 2; // uploads at a time; the server queues the rest of its work itself
const EXT = { "image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/bmp": ".bmp", "image/tiff": ".tif" };

function token() { return $("token").value.trim(); }
function authHeaders() { return token() ? { Authorization: "Bearer " + token() } : {}; }

// ---- models and options --------------------------------------------------------------------------------------

async function loadModels() {
  let res;
  try {
    res = await fetch("/v1/models", { headers: authHeaders() });
  } catch (e) {
    $("server-status").textContent = "server unreachable";
    return;
  }
  if (res.status === 401) {
    $("token-label").hidden = false;
    $("server-status").textContent = "this server needs an access token";
    return;
  }
  const info = await res.json();
  state.models = info.models;
  state.maxBytes = info.max_bytes;
  const variants = [...new Set(info.models.map((m) => m.variant))];
  const def = info.models.find((m) => m.default) || info.models[0];
  $("model").replaceChildren(...variants.map((v) => new Option(v, v, false, v === def.variant)));
  fillScales(def.scale);
  $("limits").textContent = `PNG, JPEG, WebP, BMP or TIFF; up to ${(info.max_bytes / 1e6).toFixed(0)} MB and ` +
    `${(info.max_pixels / 1e6).toFixed(1)} megapixels each`;
  $("server-status").textContent = "ready: " + info.models.map((m) => m.id).join(", ");
  updateButtons();
}

function fillScales(preferred) {
  const variant = $("model").value;
  const scales = state.models.filter((m) => m.variant === variant).map((m) => m.scale).sort((a, b) => b - a);
  $("scale").replaceChildren(...scales.map((s) => new Option("×" + s, String(s), false, s === preferred)));
}

// ---- the file list -------------------------------------------------------------------------------------------

function addFiles(files) {
  for (const file of files) {
    const item = { file, name: file.name || "image", state: "ready", before: URL.createObjectURL(file),
      result: null, resultUrl: null, resultName: null, inSize: null, outSize: null, el: null };
    state.items.push(item);
    renderItem(item);
    const probe = new Image();
    probe.onload = () => { item.inSize = [probe.naturalWidth, probe.naturalHeight]; setState(item, item.state); };
    probe.src = item.before;
  }
  updateButtons();
}

function renderItem(item) {
  const li = document.createElement("li");
  li.className = "item";
  li.innerHTML = `<img class="thumb" alt=""><span class="name"></span><span class="links"></span>
    <span class="state"></span><progress max="100" value="0"></progress>`;
  li.querySelector(".thumb").src = item.before;
  li.querySelector(".name").textContent = item.name;
  li.addEventListener("click", (e) => { if (item.result && !e.target.closest("a")) select(item); });
  item.el = li;
  $("items").append(li);
  setState(item, "ready");
}

function setState(item, st, text) {
  item.state = st;
  const li = item.el;
  li.dataset.state = st;
  const size = item.inSize ? `${item.inSize[0]}×${item.inSize[1]}` : "";
  const out = item.outSize ? ` → ${item.outSize[0]}×${item.outSize[1]}` : "";
  li.querySelector(".state").textContent = (text || st) + (size ? ` · ${size}${out}` : "");
  if (item.outSize) {
    li.dataset.outWidth = item.outSize[0];
    li.dataset.outHeight = item.outSize[1];
  }
}

function setItemProgress(item, pct) { item.el.querySelector("progress").value = pct; }

function updateButtons() {
  const pending = state.items.filter((i) => i.state === "ready" || i.state === "error");
  $("upscale").disabled = state.busy || !pending.length || !state.models.length;
  $("clear").disabled = state.busy || !state.items.length;
  $("download-all").disabled = state.busy || !state.items.some((i) => i.result);
}

function overallProgress() {
  const todo = state.items.filter((i) => i.run);
  if (!todo.length) return;
  const sum = todo.reduce((acc, i) => acc + i.el.querySelector("progress").value, 0);
  $("progress").value = sum / todo.length;
  const done = todo.filter((i) => i.state === "done" || i.state === "error").length;
  $("status").textContent = state.busy ? `${done} of ${todo.length} done` : `${done} of ${todo.length} done` +
    (todo.some((i) => i.state === "error") ? " (some failed; see the list)" : "");
}

// ---- upscaling -----------------------------------------------------------------------------------------------

function requestOnce(item, query) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/upscale?" + query);
    xhr.responseType = "blob";
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) { setItemProgress(item, 40 * e.loaded / e.total); overallProgress(); }
    };
    xhr.upload.onload = () => { setState(item, "upscaling", "upscaling…"); setItemProgress(item, 45); overallProgress(); };
    xhr.onprogress = (e) => {
      if (e.lengthComputable) { setItemProgress(item, 60 + 40 * e.loaded / e.total); overallProgress(); }
    };
    xhr.onload = () => resolve(xhr);
    xhr.onerror = () => resolve(null);
    const form = new FormData(); // multipart keeps the file's name for the result's name
    form.append("image", item.file, item.name);
    xhr.send(form);
  });
}

async function errorText(xhr) {
  try { return JSON.parse(await xhr.response.text()).error || xhr.statusText; } catch (e) { return xhr.statusText; }
}

async function upscaleItem(item, query) {
  item.run = true;
  setState(item, "uploading", "uploading…");
  setItemProgress(item, 0);
  for (let attempt = 0; attempt < 8; attempt++) {
    const xhr = await requestOnce(item, query);
    if (xhr === null) { setState(item, "error", "error: the server could not be reached"); return; }
    if (xhr.status === 503) { // busy: wait as long as the server asks, then try again
      const wait = Math.min(30, parseInt(xhr.getResponseHeader("Retry-After") || "2", 10) || 2);
      setState(item, "queued", `server busy, retrying in ${wait} s`);
      await new Promise((r) => setTimeout(r, wait * 1000));
      continue;
    }
    if (xhr.status !== 200) {
      if (xhr.status === 401) $("token-label").hidden = false;
      setState(item, "error", `error ${xhr.status}: ${await errorText(xhr)}`);
      setItemProgress(item, 100);
      return;
    }
    const blob = xhr.response;
    const disp = xhr.getResponseHeader("Content-Disposition") || "";
    const m = /filename="([^"]+)"/.exec(disp);
    const stem = item.name.replace(/\.[^.]*$/, "");
    item.result = blob;
    item.resultName = m ? m[1] : `${stem}_x${$("scale").value}${EXT[blob.type] || ".png"}`;
    if (item.resultUrl) URL.revokeObjectURL(item.resultUrl);
    item.resultUrl = URL.createObjectURL(blob);
    const size = (xhr.getResponseHeader("X-RLFN-Size") || "").split("x").map(Number);
    item.outSize = size.length === 2 && size[0] ? size : null;
    setItemProgress(item, 100);
    setState(item, "done", "done");
    const links = item.el.querySelector(".links");
    const a = document.createElement("a");
    a.className = "button download";
    a.href = item.resultUrl;
    a.download = item.resultName;
    a.textContent = "Download";
    links.replaceChildren(a);
    if (!state.selected || state.selected.state !== "done") select(item);
    return;
  }
  setState(item, "error", "error: the server stayed busy; try again later");
}

async function upscaleAll() {
  const todo = state.items.filter((i) => i.state === "ready" || i.state === "error");
  if (!todo.length) return;
  state.busy = true;
  updateButtons();
  state.items.forEach((i) => { i.run = todo.includes(i) || i.state === "done"; });
  const params = new URLSearchParams({ model: $("model").value, scale: $("scale").value });
  if ($("format").value) params.set("format", $("format").value);
  const query = params.toString();
  let next = 0;
  async function lane() {
    while (next < todo.length) {
      const item = todo[next++];
      await upscaleItem(item, query);
      overallProgress();
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENT, todo.length) }, lane));
  state.busy = false;
  overallProgress();
  updateButtons();
}

// ---- the before/after comparison --------------------------------------------------------------------------------

function select(item) {
  state.selected = item;
  state.items.forEach((i) => i.el.classList.toggle("selected", i === item));
  $("viewer").hidden = false;
  $("viewer-name").textContent = item.resultName;
  $("viewer-download").href = item.resultUrl;
  $("viewer-download").download = item.resultName;
  $("before").src = item.before;
  $("after").onload = () => {
    const w = $("after").naturalWidth, h = $("after").naturalHeight;
    item.outSize = [w, h];
    setState(item, item.state);
    $("viewer-size").textContent = item.inSize ? `${item.inSize[0]}×${item.inSize[1]} → ${w}×${h}` : `${w}×${h}`;
    layout();
  };
  $("after").src = item.resultUrl;
}

function layout() {
  const img = $("after");
  if (!img.naturalWidth) return;
  const w = img.naturalWidth, h = img.naturalHeight, zoom = $("zoom").value;
  const box = $("compare");
  const z = zoom === "fit" ? Math.min(1, (box.clientWidth - 2) / w, (window.innerHeight * 0.75 - 2) / h) : Number(zoom);
  // Both images fill the same stage, so they are always shown at the same zoom.
  $("stage").style.width = Math.round(w * z) + "px";
  $("stage").style.height = Math.round(h * z) + "px";
  moveSlider();
}

function moveSlider() {
  const v = Number($("slider").value);
  $("after").style.clipPath = `inset(0 0 0 ${v}%)`;
  $("divider").style.left = v + "%";
}

// ---- download all: a ZIP written here (stored, not compressed: images are compressed already) ----------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

async function zipBlobs(entries) {
  const enc = new TextEncoder();
  const parts = [], central = [];
  let offset = 0;
  const now = new Date();
  const time = (now.getHours() << 11) | (now.getMinutes() << 5) | (now.getSeconds() >> 1);
  const date = ((now.getFullYear() - 1980) << 9) | ((now.getMonth() + 1) << 5) | now.getDate();
  const used = new Set();
  for (const { name, blob } of entries) {
    let n = name, k = 1;
    while (used.has(n)) n = name.replace(/(\.[^.]*)?$/, `_${k++}$1`);
    used.add(n);
    const data = new Uint8Array(await blob.arrayBuffer());
    const fname = enc.encode(n), crc = crc32(data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true); local.setUint16(4, 20, true); local.setUint16(6, 0x0800, true);
    local.setUint16(8, 0, true); local.setUint16(10, time, true); local.setUint16(12, date, true);
    local.setUint32(14, crc, true); local.setUint32(18, data.length, true); local.setUint32(22, data.length, true);
    local.setUint16(26, fname.length, true); local.setUint16(28, 0, true);
    parts.push(local, fname, data);
    const cen = new DataView(new ArrayBuffer(46));
    cen.setUint32(0, 0x02014b50, true); cen.setUint16(4, 20, true); cen.setUint16(6, 20, true);
    cen.setUint16(8, 0x0800, true); cen.setUint16(10, 0, true); cen.setUint16(12, time, true);
    cen.setUint16(14, date, true); cen.setUint32(16, crc, true); cen.setUint32(20, data.length, true);
    cen.setUint32(24, data.length, true); cen.setUint16(28, fname.length, true);
    cen.setUint32(42, offset, true);
    central.push(cen, fname);
    offset += 30 + fname.length + data.length;
  }
  const size = central.reduce((a, p) => a + p.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true); end.setUint16(8, entries.length, true); end.setUint16(10, entries.length, true);
  end.setUint32(12, size, true); end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end], { type: "application/zip" });
}

async function downloadAll() {
  const done = state.items.filter((i) => i.result);
  if (!done.length) return;
  const zip = await zipBlobs(done.map((i) => ({ name: i.resultName, blob: i.result })));
  const a = document.createElement("a");
  a.href = URL.createObjectURL(zip);
  a.download = "rlfn-upscaled.zip";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}

function clearAll() {
  for (const i of state.items) {
    URL.revokeObjectURL(i.before);
    if (i.resultUrl) URL.revokeObjectURL(i.resultUrl);
  }
  state.items = [];
  state.selected = null;
  $("items").replaceChildren();
  $("viewer").hidden = true;
  $("progress").value = 0;
  $("status").textContent = "";
  updateButtons();
}

// ---- wiring ----------------------------------------------------------------------------------------------------

function init() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    addFiles([...e.dataTransfer.files].filter((f) => !f.type || f.type.startsWith("image/")));
  });
  $("files").addEventListener("change", (e) => { addFiles([...e.target.files]); e.target.value = ""; });
  $("model").addEventListener("change", () => fillScales(Number($("scale").value)));
  $("token").addEventListener("change", loadModels);
  $("upscale").addEventListener("click", upscaleAll);
  $("clear").addEventListener("click", clearAll);
  $("download-all").addEventListener("click", downloadAll);
  $("slider").addEventListener("input", moveSlider);
  $("zoom").addEventListener("change", layout);
  window.addEventListener("resize", layout);
  loadModels();
}

init();
