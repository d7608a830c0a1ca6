// Plotters and the queue: device cards with the live pen, the job table with its controls, plan previews.
import { get, post } from "./api.js";
import { drawMoves, drawPen, drawPlan, drawSheet, drawStep } from "./sheet.js";

const devices = new Map(); // name -> {card, canvas, map, sheet, job, last}
const jobs = new Map(); // id -> job
const plans = new Map(); // id -> plan (promise)
let selected = null;

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, text = "") => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
};
const fmtPos = (p) => (p ? p.slice(0, 3).map((v) => v.toFixed(2)).join(", ") : "?");

export function planOf(id) {
  if (!plans.has(id)) {
    const p = get(`/v1/jobs/${id}/plan`).then((plan) => {
      p.resolved = plan; // time left needs it synchronously
      if (jobs.has(id)) renderJob(jobs.get(id));
      return plan;
    }, (e) => { plans.delete(id); throw e; });
    plans.set(id, p);
  }
  return plans.get(id);
}

export function showError(e) { $("#queue-error").textContent = e.message || String(e); }

// ---------------------------------------------------------------- plotters
export async function loadDevices() {
  const [list, sheets] = await Promise.all([get("/v1/devices"), get("/v1/sheets")]);
  const box = $("#devices");
  box.replaceChildren();
  devices.clear();
  for (const info of list) {
    const card = el("div", { class: "device", "data-device": info.name });
    card.innerHTML = `<div class="row"><strong></strong><span class="badge state"></span>
      <button type="button" class="unlock" hidden>Unlock</button></div>
      <div class="facts"><span>pos <b class="pos"></b></span><span>planner <b class="planner"></b></span>
      <span>rx <b class="rx"></b></span><span>job <b class="job"></b></span></div>
      <p class="error alarm"></p><div class="live-wrap"><canvas class="live" width="520" height="380"
      data-down="0"></canvas><canvas class="pen" width="520" height="380"></canvas></div>`;
    $("strong", card).textContent = info.name;
    const dev = { card, canvas: $("canvas.live", card), pen: $("canvas.pen", card), sheet: sheets[info.name], job: null, last: null };
    dev.map = drawSheet(dev.canvas, dev.sheet);
    $(".unlock", card).onclick = () => post(`/v1/devices/${info.name}/unlock`).catch(showError);
    devices.set(info.name, dev);
    box.append(card);
    showDevice(dev, { ...info, pos: info.position });
  }
  for (const sel of document.querySelectorAll(".device-select")) {
    sel.replaceChildren(el("option", { value: "any" }, "any free"), ...list.map((d) => el("option", { value: d.name }, d.name)));
  }
}

function showDevice(dev, s) {
  const c = dev.card;
  const state = s.connected === false ? "offline" : s.state || "?";
  const badge = $(".state", c);
  badge.textContent = state;
  badge.className = `badge state ${state.split(":")[0]}`;
  c.dataset.state = state;
  $(".pos", c).textContent = fmtPos(s.pos);
  $(".planner", c).textContent = s.buffer?.planner_free ?? "?";
  $(".rx", c).textContent = s.buffer?.rx_free ?? "?";
  $(".job", c).textContent = s.job ?? "-";
  const alarm = s.alarm || s.error || "";
  $(".alarm", c).textContent = alarm;
  $(".unlock", c).hidden = !/alarm/i.test(alarm) && state !== "Alarm";
}

// One GRBL report: facts, then the pen's step since the last report (on the job's plan, once it runs).
export function onStatus(ev) {
  const dev = devices.get(ev.device);
  if (!dev) return;
  showDevice(dev, ev);
  if (ev.job !== dev.job && ev.job != null) {
    dev.job = ev.job;
    dev.last = null;
    dev.canvas.dataset.down = "0";
    dev.canvas.dataset.job = ev.job;
    dev.path = null;
    planOf(ev.job).then((plan) => {
      dev.sheet = { bed: plan.bed, paper: plan.paper };
      dev.map = drawSheet(dev.canvas, plan);
      drawMoves(dev.canvas, dev.map, plan.moves, "rgba(47,111,222,0.18)");
      dev.path = flatten(plan.moves);
      dev.cur = null;
      dev.last = null;
    }).catch(showError);
  }
  if (!ev.pos) return;
  if (dev.last && (dev.last[0] !== ev.pos[0] || dev.last[1] !== ev.pos[1]) && !follow(dev, ev.pos, ev.pen)) {
    step(dev, dev.last, ev.pos, ev.pen);
    dev.cur = null;
  }
  dev.last = ev.pos;
  dev.penDown = ev.pen;
  drawPen(dev.pen, dev.map, ev.pos, ev.pen);
  if (ev.job != null && jobs.has(ev.job) && ev.acked != null) {
    const job = jobs.get(ev.job);
    if (ev.acked > job.acked) { job.acked = ev.acked; renderJob(job); }
  }
}

function step(dev, from, to, down) {
  drawStep(dev.canvas, dev.map, from, to, down);
  if (down) dev.canvas.dataset.down = String(Number(dev.canvas.dataset.down) + 1);
}

// The plan as one polyline of points; `down` says whether the pen is down on the way to that point.
function flatten(moves) {
  const out = [];
  for (const [down, pts] of moves) {
    for (const [x, y] of pts) {
      const q = out[out.length - 1];
      if (!q || q[0] !== x || q[1] !== y) out.push([x, y, down]);
    }
  }
  return out;
}

// GRBL reports where the pen is 5 times a second; between two reports it followed the plan. Find the
// report on the plan (forward from the last one) and draw the plan's path up to it, so a curve stays a
// curve; a report off the plan (a jog, another program) is drawn as a straight step instead. Pen up or
// down is what GRBL reports; between two reports that differ, the plan says where the pen moved.
function follow(dev, pos, pen) {
  const P = dev.path;
  if (!P || P.length < 2) return false;
  const start = dev.cur ? dev.cur.i + 1 : 1;
  for (let j = start; j < P.length; j++) {
    const [ax, ay] = P[j - 1];
    const [bx, by] = P[j];
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    const t = len2 ? Math.max(0, Math.min(1, ((pos[0] - ax) * dx + (pos[1] - ay) * dy) / len2)) : 0;
    const q = [ax + t * dx, ay + t * dy];
    if (Math.hypot(q[0] - pos[0], q[1] - pos[1]) > 0.3) continue;
    const same = pen != null && pen === dev.penDown;
    let from = dev.cur ? dev.cur.p : dev.last; // first report on the plan (maybe a resumed job): no replay
    for (let k = dev.cur ? start : j; k < j; k++) { step(dev, from, P[k], same ? pen : P[k][2]); from = P[k]; }
    step(dev, from, q, pen ?? P[j][2]);
    dev.cur = { i: j - 1, p: q };
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- the queue
export async function loadJobs() {
  const list = await get("/v1/jobs");
  jobs.clear();
  $("#queue tbody").replaceChildren();
  for (const job of list) onJob(job);
}

export function onJob(job) {
  jobs.set(job.id, job);
  renderJob(job);
  const cached = plans.get(job.id)?.resolved;
  if (cached && cached.lines !== job.lines_total) plans.delete(job.id); // planned again for its plotter
}

function what(job) {
  const p = job.params || {};
  if (job.kind === "gcode") return "G-code";
  return `${p.class || "?"} ×${p.n || 1}${p.model ? ` (${p.model})` : ""}`;
}

function timeLeft(job, plan) {
  const total = job.stats?.estimate_total_s ?? plan?.estimate_s;
  if (total == null) return "";
  if (job.state === "done") return "0 s";
  let frac = 1 - (job.progress || 0);
  if (plan && plan.eta) {
    const pts = plan.eta;
    let i = 1;
    while (i < pts.length - 1 && pts[i][0] < job.acked) i++;
    const [l0, f0] = pts[i - 1];
    const [l1, f1] = pts[i];
    frac = l1 > l0 ? f0 + ((f1 - f0) * (job.acked - l0)) / (l1 - l0) : f1;
  }
  const s = Math.max(0, Math.round(total * Math.min(1, frac)));
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

const ACTIONS = {
  pause: (j) => j.state === "running" || j.state === "queued",
  "pause at lift": (j) => j.state === "running", // the pen ends up, off the paper

  resume: (j) => j.state === "paused",
  cancel: (j) => ["queued", "running", "paused"].includes(j.state),
  retry: (j) => ["failed", "interrupted", "cancelled"].includes(j.state),
};

function renderJob(job) {
  const body = $("#queue tbody");
  let row = $(`tr[data-id="${job.id}"]`, body);
  if (!row) {
    row = el("tr", { "data-id": job.id });
    row.innerHTML = `<td class="id"></td><td class="what"></td><td class="dev"></td><td class="st"></td>
      <td><progress max="1"></progress></td><td class="left"></td><td class="acts"></td>`;
    for (const name of Object.keys(ACTIONS)) {
      const b = el("button", { type: "button", "data-act": name.replaceAll(" ", "-") }, name);
      b.onclick = (e) => { e.stopPropagation(); act(job.id, name); };
      $(".acts", row).append(b);
    }
    row.onclick = () => selectJob(job.id);
    const first = [...body.children].find((r) => Number(r.dataset.id) < job.id);
    body.insertBefore(row, first || null);
  }
  row.dataset.state = job.state;
  $(".id", row).textContent = job.id;
  $(".what", row).textContent = what(job);
  $(".dev", row).textContent = job.assigned || job.device;
  const pen = job.pause_reason === "pen-change" && job.state === "paused" ? `: put in ${job.stats?.next_pen || "the next pen"}, then resume` : "";
  $(".st", row).textContent = job.state + (job.pause_reason && job.state === "paused" ? ` (${job.pause_reason})` : "") + pen + (job.error ? `: ${job.error}` : "");
  $("progress", row).value = job.progress || (job.lines_total ? job.acked / job.lines_total : 0);
  const plan = plans.get(job.id);
  $(".left", row).textContent = timeLeft(job, plan?.resolved);
  if ((job.state === "running" || job.state === "paused") && !plan) planOf(job.id).catch(() => {});
  for (const [name, ok] of Object.entries(ACTIONS)) $(`[data-act=${name.replaceAll(" ", "-")}]`, row).hidden = !ok(job);
}

async function act(id, name) {
  $("#queue-error").textContent = "";
  try {
    const [op, body] = name === "pause at lift" ? ["pause", { at: "lift" }] : [name, name === "retry" ? { from_journal: true } : {}];
    onJob(await post(`/v1/jobs/${id}/${op}`, body));
  } catch (e) {
    showError(e);
  }
}

async function selectJob(id) {
  selected = id;
  for (const r of document.querySelectorAll("#queue tbody tr")) r.classList.toggle("sel", Number(r.dataset.id) === id);
  try {
    const plan = await planOf(id);
    $("#plan-box").hidden = false;
    $("#plan-title").textContent = `Plan of job ${id}: ${plan.paper.name} paper on a ${plan.bed.width} × ${plan.bed.height} mm bed, ${plan.lines} lines`;
    drawPlan($("#plan"), plan);
  } catch (e) {
    showError(e);
  }
}
