// New jobs: sample and preview a draw job (resample one cell), draw together with the model, upload a file.
import { get, post } from "./api.js";
import { drawSketch } from "./sheet.js";
import { onJob } from "./dash.js";

const $ = (sel, root = document) => root.querySelector(sel);
let byClass = {};
let drawn = null; // {params, sketches} of the last preview
let together = null; // {params, prefix, sketches, chosen}
let strokes = []; // what the user drew on the pad, canvas px
let resamples = 0;

const num = (id) => ($(id).value === "" ? undefined : Number($(id).value));
const note = (text) => { $("#submit-note").textContent = text; };
const fail = (id) => (e) => { $(id).textContent = e.message || String(e); };

export async function loadClasses() {
  const info = await get("/v1/classes");
  byClass = info.by_class;
  $("#class-names").replaceChildren(...info.classes.map((c) => Object.assign(document.createElement("option"), { value: c })));
  classHint();
}

function classHint() {
  const name = $("#draw-class").value.trim();
  const known = byClass[name];
  $("#class-hint").textContent = !name ? "" : known
    ? `known by ${known.map((k) => `${k.checkpoint} (${k.model})`).join(", ")}`
    : "no shipped checkpoint knows this class";
  if (known && !known.some((k) => k.model === $("#draw-model").value)) $("#draw-model").value = known[0].model;
}

function drawParams(n) {
  const p = { class: $("#draw-class").value.trim(), model: $("#draw-model").value, n: n ?? num("#draw-n") };
  const grid = $("#draw-grid").value.trim();
  if (grid) p.grid = grid;
  if (num("#draw-temp") !== undefined) p.temperature = num("#draw-temp");
  return p;
}

const seed = () => num("#draw-seed") ?? Math.floor(Math.random() * 1e9);

function cell(strokesOf, label, highlightFrom, onClick) {
  const box = document.createElement("div");
  box.className = "cell";
  const c = Object.assign(document.createElement("canvas"), { width: 120, height: 120 });
  drawSketch(c, strokesOf, highlightFrom);
  box.append(c);
  if (label) {
    const b = Object.assign(document.createElement("button"), { type: "button", textContent: label });
    b.onclick = onClick;
    box.append(b);
  } else if (onClick) {
    c.onclick = onClick;
  }
  return box;
}

function showDrawn() {
  $("#draw-cells").replaceChildren(...drawn.sketches.map((sk, i) => cell(sk, "resample", Infinity, () => resample(i))));
  $("#draw-queue").disabled = !drawn.sketches.length;
}

async function sample(e) {
  e.preventDefault();
  $("#draw-error").textContent = "";
  $("#draw-queue").disabled = true;
  $("#draw-cells").replaceChildren();
  try {
    drawn = await post("/v1/preview", { params: { ...drawParams(), seed: seed() } });
    showDrawn();
  } catch (err) {
    fail("#draw-error")(err);
  }
}

async function resample(i) {
  $("#draw-error").textContent = "";
  try {
    resamples += 1; // a new sketch each time, and the same sequence again for the same seed
    const one = await post("/v1/preview", { params: { ...drawParams(1), grid: undefined, seed: seed() + 7919 * resamples + i } });
    drawn.sketches[i] = one.sketches[0];
    showDrawn();
  } catch (err) {
    fail("#draw-error")(err);
  }
}

async function queue(params, sketches, form, errId) {
  $(errId).textContent = "";
  try {
    const device = $(".device-select", form).value;
    const job = await post("/v1/jobs", { kind: "draw", params, sketches, device });
    onJob(job);
    note(`queued job ${job.id}`);
  } catch (err) {
    fail(errId)(err);
  }
}

// ---------------------------------------------------------------- draw together
function pad() {
  const c = $("#pad");
  const ctx = c.getContext("2d");
  let cur = null;
  const at = (e) => { const r = c.getBoundingClientRect(); return [(e.clientX - r.left) * (c.width / r.width), (e.clientY - r.top) * (c.height / r.height)]; };
  c.onpointerdown = (e) => { c.setPointerCapture(e.pointerId); cur = [at(e)]; strokes.push(cur); };
  c.onpointermove = (e) => {
    if (!cur) return;
    const p = at(e);
    const q = cur[cur.length - 1];
    if (Math.hypot(p[0] - q[0], p[1] - q[1]) < 2) return;
    ctx.beginPath(); ctx.lineWidth = 2; ctx.moveTo(q[0], q[1]); ctx.lineTo(p[0], p[1]); ctx.stroke();
    cur.push(p);
  };
  c.onpointerup = () => { cur = null; };
  $("#pad-clear").onclick = () => { strokes = []; ctx.clearRect(0, 0, c.width, c.height); };
}

function showTogether() {
  const t = together;
  $("#together-cells").replaceChildren(...t.sketches.map((sk, i) => {
    const box = cell(sk, null, t.prefix, () => { t.chosen = i; showTogether(); });
    box.classList.toggle("chosen", t.chosen === i);
    return box;
  }));
  $("#together-queue").disabled = t.chosen == null;
}

async function complete(e) {
  e.preventDefault();
  $("#together-error").textContent = "";
  $("#together-queue").disabled = true;
  const params = { class: $("#together-class").value.trim(), model: $("#together-model").value, n: num("#together-n") };
  if (num("#together-temp") !== undefined) params.temperature = num("#together-temp");
  try {
    if (!strokes.length) throw new Error("draw a few strokes on the pad first");
    const out = await post("/v1/complete", { strokes: strokes.filter((s) => s.length), params });
    together = { params: out.params, prefix: out.prefix_strokes, sketches: out.sketches, chosen: null };
    showTogether();
  } catch (err) {
    fail("#together-error")(err);
  }
}

// ---------------------------------------------------------------- upload
async function upload(e) {
  e.preventDefault();
  $("#upload-error").textContent = "";
  const file = $("#upload-file").files[0];
  try {
    if (!file) throw new Error("choose a .gcode or .svg file");
    const text = await file.text();
    const device = $(".device-select", $("#upload-form")).value;
    const svg = /\.svg$/i.test(file.name);
    const body = svg ? { kind: "svg", svg: text, params: { class: file.name }, device } : { kind: "gcode", gcode: text, params: { name: file.name }, device };
    const job = await post("/v1/jobs", body);
    onJob(job);
    note(`queued job ${job.id} (${file.name})`);
  } catch (err) {
    fail("#upload-error")(err);
  }
}

export function setupStudio() {
  for (const b of document.querySelectorAll(".tabs button")) {
    b.onclick = () => {
      for (const o of document.querySelectorAll(".tabs button")) o.classList.toggle("on", o === b);
      for (const f of document.querySelectorAll("form.tab")) f.hidden = f.dataset.tab !== b.dataset.tab;
    };
  }
  $("#draw-class").oninput = classHint;
  $("#draw-form").onsubmit = sample;
  $("#draw-queue").onclick = () => queue({ ...drawn.params, n: drawn.sketches.length }, drawn.sketches, $("#draw-form"), "#draw-error");
  $("#together-form").onsubmit = complete;
  $("#together-queue").onclick = () => queue({ ...together.params, n: 1 }, [together.sketches[together.chosen]], $("#together-form"), "#together-error");
  $("#upload-form").onsubmit = upload;
  pad();
}
