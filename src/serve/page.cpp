#include "covscreen/serve/page.h"

namespace covscreen {

namespace {
// Self-contained: no external scripts, styles, fonts or images (the CSP in server.cpp forbids them).
const char* const kPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>covscreen: COVID-19 screening of chest CT / X-ray</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1em; color: #222; }
  #notice { background: #fff3cd; border: 2px solid #d39e00; padding: .7em 1em; font-weight: 600; border-radius: 6px; }
  #drop { border: 3px dashed #888; border-radius: 10px; padding: 2em; text-align: center; margin: 1em 0; cursor: pointer; }
  #drop.over { border-color: #0069d9; background: #eef5ff; }
  table { border-collapse: collapse; width: 100%; font-size: .95em; }
  th, td { border-bottom: 1px solid #ddd; padding: .35em .5em; text-align: left; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  tbody tr { cursor: pointer; }
  tbody tr:hover { background: #f5f5f5; }
  tr.sel { background: #e3eeff !important; }
  .pos { color: #b00020; font-weight: 700; }
  .err { color: #b00020; }
  #layout { display: flex; gap: 1.5em; align-items: flex-start; flex-wrap: wrap; }
  #left { flex: 3 1 500px; }
  #right { flex: 2 1 300px; }
  #cam { max-width: 100%; border: 1px solid #ccc; display: none; }
  .muted { color: #666; font-size: .9em; }
  button { padding: .4em .9em; }
</style>
</head>
<body>
<h1>covscreen</h1>
<p id="notice">Research use only &mdash; not a medical device. Results must not be used for diagnosis or treatment.</p>
<p id="model" class="muted">loading model&hellip;</p>
<p><label>Bearer token (if the server needs one): <input id="token" type="password" autocomplete="off" size="30"></label></p>
<div id="drop" tabindex="0">Drop PNG, JPEG or DICOM files here, or click to choose
  <input id="files" type="file" multiple accept=".png,.jpg,.jpeg,.dcm,.dicom,image/*,application/dicom" hidden>
</div>
<p id="status" class="muted" aria-live="polite"></p>
<div id="layout">
  <div id="left">
    <table id="results"><thead><tr><th>#</th><th>File</th><th>Decision</th><th>Status</th></tr></thead><tbody></tbody></table>
    <p><button id="csv" disabled>Download CSV</button> <button id="clear">Clear</button></p>
  </div>
  <div id="right">
    <p id="camcap" class="muted">Click a row to see its class activation map.</p>
    <img id="cam" alt="class activation map overlay">
  </div>
</div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let classes = null;
let rows = [];
const BATCH = 4;

function authHeaders() {
  const t = $("token").value.trim();
  return t ? { "Authorization": "Bearer " + t } : {};
}
function setStatus(s) { $("status").textContent = s; }

function buildHead() {
  const tr = $("results").tHead.rows[0];
  tr.textContent = "";
  const cols = ["#", "File"].concat((classes || []).map((c) => "P(" + c + ")"), ["Decision", "Status"]);
  for (const h of cols) { const th = document.createElement("th"); th.textContent = h; tr.appendChild(th); }
}

async function loadModel() {
  try {
    const r = await fetch("v1/model", { headers: authHeaders() });
    const j = await r.json();
    if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
    classes = j.classes;
    $("model").textContent = "Model " + j.id + " (" + j.arch + "), classes: " + j.classes.join(", ") +
        ", decision threshold on P(covid): " + (typeof j.threshold === "number" ? j.threshold.toFixed(3) : "?");
    buildHead();
  } catch (e) {
    $("model").textContent = "Model card not available: " + e.message;
  }
}

function cell(tr, text, cls) {
  const td = tr.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function addRow(name, it) {
  const idx = rows.length;
  rows.push({ name: name, it: it });
  const tr = $("results").tBodies[0].insertRow();
  cell(tr, String(idx + 1));
  cell(tr, name);
  for (const c of classes || []) {
    const p = it.ok && it.probabilities ? it.probabilities[c] : null;
    cell(tr, p == null ? "" : p.toFixed(3), "num");
  }
  if (it.ok) cell(tr, it.predicted + (it.positive ? " (positive)" : "") +
      (it.atypical ? "; ATYPICAL: unlike the model's training images" : "") +
      (it.input_check === "off" ? "; input checks off" : ""), it.positive ? "pos" : "");
  else cell(tr, (it.refused ? "" : "error: ") + (it.error || "failed"), "err");
  cell(tr, String(it.status || ""));
  tr.addEventListener("click", () => showCam(idx, tr));
  $("csv").disabled = false;
}

function showCam(i, tr) {
  for (const r of $("results").tBodies[0].rows) r.classList.remove("sel");
  tr.classList.add("sel");
  const { name, it } = rows[i];
  const img = $("cam");
  if (it.cam_png_base64) {
    img.src = "data:image/png;base64," + it.cam_png_base64;
    img.style.display = "block";
    $("camcap").textContent = name + ": map for class " + it.cam_class + " (yellow = most evidence)" +
        (it.lung_crop === "lungs" ? "; the model saw the lung region only (the map is 0 outside it)"
         : it.lung_crop ? "; the model saw the " + it.lung_crop : "");
  } else {
    img.removeAttribute("src");
    img.style.display = "none";
    $("camcap").textContent = name + ": no map (" + (it.error || "not available") + ")";
  }
}

async function screenFiles(list) {
  const files = Array.from(list);
  if (!files.length) return;
  let done = 0;
  for (let i = 0; i < files.length; i += BATCH) {
    const chunk = files.slice(i, i + BATCH);
    const fd = new FormData();
    for (const f of chunk) fd.append("files", f, f.name);
    setStatus("Screening " + (done + 1) + "-" + (done + chunk.length) + " of " + files.length + "\u2026");
    let r = null, j = null;
    try {
      r = await fetch("v1/screen?cam=1", { method: "POST", headers: authHeaders(), body: fd });
      j = await r.json();
    } catch (e) {
      j = { error: String(e) };
    }
    if (j.classes && !classes) { classes = j.classes; buildHead(); }
    if (Array.isArray(j.results)) {
      for (const it of j.results) addRow(chunk[it.index] ? chunk[it.index].name : "?", it);
    } else {
      for (const f of chunk) addRow(f.name, { ok: false, status: r ? r.status : 0, error: j.error || "request failed" });
    }
    done += chunk.length;
  }
  setStatus("Screened " + files.length + " file(s). " + "Research use only, not a medical device.");
}

function csvField(v, text) {
  let s = v == null ? "" : String(v);
  if (text && /^[=+\-@\t\r]/.test(s)) s = "'" + s;  // keep spreadsheets from running formulas
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

function downloadCsv() {
  const cls = classes || [];
  const lines = [["file"].concat(cls.map((c) => "prob_" + c), ["predicted", "positive", "status", "error", "typicality", "atypical"]).join(",")];
  for (const { name, it } of rows) {
    const probs = cls.map((c) => (it.ok && it.probabilities ? it.probabilities[c] : ""));
    lines.push([csvField(name, true)].concat(probs.map((p) => csvField(p)),
        [csvField(it.ok ? it.predicted : ""), it.ok ? (it.positive ? "1" : "0") : "", String(it.status || ""),
         csvField(it.error || "", true), it.typicality == null ? "" : String(it.typicality),
         it.typicality == null ? "" : (it.atypical ? "1" : "0")]).join(","));
  }
  const blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "covscreen_results.csv";
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

const drop = $("drop");
drop.addEventListener("click", (e) => { if (e.target !== $("files")) $("files").click(); });
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("files").click(); });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); screenFiles(e.dataTransfer.files); });
$("files").addEventListener("change", (e) => { screenFiles(e.target.files); e.target.value = ""; });
$("csv").addEventListener("click", downloadCsv);
$("clear").addEventListener("click", () => {
  rows = []; $("results").tBodies[0].textContent = ""; $("csv").disabled = true;
  $("cam").style.display = "none"; $("camcap").textContent = "Click a row to see its class activation map.";
});
$("token").addEventListener("change", loadModel);
loadModel();
</script>
</body>
</html>
)HTML";
}  // namespace

const char* index_html() { return kPage; }

}  // namespace covscreen
