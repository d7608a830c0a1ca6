// Drawing on canvases: a plotter's bed with the paper (machine mm), a plan's pen moves, the live pen
// trail, and sketch thumbnails (data px, y down).

const INK = "#1d2330";
const FAINT = "rgba(120,130,150,0.35)";
const PLAN = "rgba(47,111,222,0.25)";

// Machine mm -> canvas px for a bed (y flipped when the machine's origin is bottom-left).
export function frame(canvas, bed) {
  const pad = 8;
  const s = Math.min((canvas.width - 2 * pad) / bed.width, (canvas.height - 2 * pad) / bed.height);
  const ox = (canvas.width - s * bed.width) / 2;
  const oy = (canvas.height - s * bed.height) / 2;
  return (x, y) => [ox + s * x, bed.y_up ? oy + s * (bed.height - y) : oy + s * y];
}

export function drawSheet(canvas, plan) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const map = frame(canvas, plan.bed);
  rect(ctx, map, 0, 0, plan.bed.width, plan.bed.height, "#c4cad6", [4, 4], null);
  rect(ctx, map, 0, 0, plan.paper.width, plan.paper.height, "#9aa3b5", [], "#ffffff");
  return map;
}

function rect(ctx, map, x0, y0, x1, y1, stroke, dash, fill) {
  const [ax, ay] = map(x0, y0);
  const [bx, by] = map(x1, y1);
  ctx.save();
  ctx.setLineDash(dash);
  if (fill) { ctx.fillStyle = fill; ctx.fillRect(Math.min(ax, bx), Math.min(ay, by), Math.abs(bx - ax), Math.abs(by - ay)); }
  ctx.strokeStyle = stroke;
  ctx.strokeRect(Math.min(ax, bx), Math.min(ay, by), Math.abs(bx - ax), Math.abs(by - ay));
  ctx.restore();
}

// The plan: pen-down moves in `down` colour, pen-up travel faint and dashed.
export function drawMoves(canvas, map, moves, down = INK) {
  const ctx = canvas.getContext("2d");
  for (const [isDown, pts] of moves) {
    if (pts.length < 2) continue;
    ctx.beginPath();
    ctx.setLineDash(isDown ? [] : [3, 3]);
    ctx.strokeStyle = isDown ? down : FAINT;
    ctx.lineWidth = isDown ? 1.2 : 0.8;
    const [x0, y0] = map(pts[0][0], pts[0][1]);
    ctx.moveTo(x0, y0);
    for (let i = 1; i < pts.length; i++) { const [x, y] = map(pts[i][0], pts[i][1]); ctx.lineTo(x, y); }
    ctx.stroke();
  }
  ctx.setLineDash([]);
}

export const drawPlan = (canvas, plan) => drawMoves(canvas, drawSheet(canvas, plan), plan.moves, PLAN);

// One step of the live pen: from the last reported position to this one, solid when the pen is down.
export function drawStep(canvas, map, from, to, penDown) {
  const ctx = canvas.getContext("2d");
  const [ax, ay] = map(from[0], from[1]);
  const [bx, by] = map(to[0], to[1]);
  ctx.beginPath();
  ctx.setLineDash(penDown ? [] : [2, 3]);
  ctx.strokeStyle = penDown ? INK : FAINT;
  ctx.lineWidth = penDown ? 1.6 : 0.8;
  ctx.moveTo(ax, ay);
  ctx.lineTo(bx, by);
  ctx.stroke();
  ctx.setLineDash([]);
}

// A sketch (strokes of [x, y] data px, y down) fitted into a square canvas; strokes from `highlightFrom`
// on (a completion's continuation) in the accent colour.
export function drawSketch(canvas, strokes, highlightFrom = Infinity) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const pts = strokes.flat();
  if (!pts.length) return;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const pad = 8;
  const s = Math.min((canvas.width - 2 * pad) / Math.max(x1 - x0, 1e-6), (canvas.height - 2 * pad) / Math.max(y1 - y0, 1e-6));
  const ox = (canvas.width - s * (x1 - x0)) / 2;
  const oy = (canvas.height - s * (y1 - y0)) / 2;
  ctx.lineWidth = 1.5;
  ctx.lineCap = "round";
  strokes.forEach((stroke, i) => {
    ctx.strokeStyle = i >= highlightFrom ? "#e07b1f" : INK;
    ctx.beginPath();
    stroke.forEach(([x, y], j) => {
      const px = ox + s * (x - x0);
      const py = oy + s * (y - y0);
      if (j === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    });
    if (stroke.length === 1) ctx.lineTo(ox + s * (stroke[0][0] - x0) + 0.5, oy + s * (stroke[0][1] - y0));
    ctx.stroke();
  });
}

// Where the pen is now, on the overlay canvas: a filled dot when it is down, a ring when it is up.
export function drawPen(canvas, map, pos, down) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const [x, y] = map(pos[0], pos[1]);
  ctx.beginPath();
  ctx.arc(x, y, 4, 0, 2 * Math.PI);
  ctx.strokeStyle = "#d0342c";
  ctx.lineWidth = 1.5;
  if (down) { ctx.fillStyle = "#d0342c"; ctx.fill(); }
  ctx.stroke();
}
