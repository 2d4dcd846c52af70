// Drawing only (no computing): skeletons and boxes over a 2D canvas, colours from the shared spec.
import { loadSpec } from './spec.js';

const SPEC = await loadSpec();
const NAMES = SPEC.coco17.names;
const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
const EDGE_COLORS = SPEC.coco17.edge_parts.map((p) => rgb(SPEC.part_colors[p]));
const JOINT = rgb(SPEC.joint_color);

function byName(pose) {
  const m = {};
  for (const k of pose.keypoints) m[k.name] = k;
  return m;
}

/**
 * Draw poses ({keypoints: [{name, x, y, score}], label?}) with coloured limbs.
 * `scale` maps source pixels to canvas pixels (canvas may be displayed at another size). `mirror`: the picture under
 * the canvas is shown flipped left-right, so the skeletons are placed flipped too. A pose's optional `label` (e.g.
 * its score) is written above its highest drawn keypoint, readable even when mirrored.
 */
export function drawPoses(ctx, poses, {
  minScore = SPEC.draw_min_score, lineWidth = 3, radius = 4, scale = 1, mirror = false, font = '14px sans-serif',
} = {}) {
  const W = ctx.canvas.width;
  const px = (k) => (mirror ? W - k.x * scale : k.x * scale);
  ctx.save();
  ctx.lineCap = 'round';
  for (const pose of poses) {
    const kp = byName(pose);
    ctx.lineWidth = lineWidth;
    SPEC.coco17.edges.forEach(([a, b], i) => {
      const ka = kp[a]; const kb = kp[b];
      if (!ka || !kb || ka.score < minScore || kb.score < minScore) return;
      ctx.strokeStyle = EDGE_COLORS[i];
      ctx.beginPath();
      ctx.moveTo(px(ka), ka.y * scale);
      ctx.lineTo(px(kb), kb.y * scale);
      ctx.stroke();
    });
    ctx.fillStyle = JOINT;
    let top = null;
    for (const name of NAMES) {
      const k = kp[name];
      if (!k || k.score < minScore) continue;
      if (!top || k.y < top.y) top = k;
      ctx.beginPath();
      ctx.arc(px(k), k.y * scale, radius, 0, 2 * Math.PI);
      ctx.fill();
    }
    if (pose.label != null && top) drawTag(ctx, String(pose.label), px(top), top.y * scale - radius - 4, font);
  }
  ctx.restore();
}

/** A small dark tag with white text, centred on x, its bottom at y (kept inside the canvas). */
function drawTag(ctx, text, x, y, font) {
  ctx.save();
  ctx.font = font;
  ctx.textBaseline = 'bottom';
  const w = ctx.measureText(text).width + 8;
  const h = parseInt(font, 10) + 6;
  const left = Math.min(Math.max(0, x - w / 2), ctx.canvas.width - w);
  const bottom = Math.min(Math.max(h, y), ctx.canvas.height);
  ctx.fillStyle = 'rgba(0,0,0,.65)';
  ctx.fillRect(left, bottom - h, w, h);
  ctx.fillStyle = '#fff';
  ctx.fillText(text, left + 4, bottom - 3);
  ctx.restore();
}

/** Draw boxes [{x1, y1, x2, y2, label, score, color}] with a label tag. `mirror`: the picture under the canvas is
 *  shown flipped left-right, so the boxes are placed flipped too, while their labels stay readable. */
export function drawBoxes(ctx, boxes, { lineWidth = 2, font = '14px sans-serif', scale = 1, mirror = false } = {}) {
  const W = ctx.canvas.width;
  ctx.save();
  ctx.font = font;
  ctx.textBaseline = 'top';
  for (const b of boxes) {
    const color = b.color || '#00e0ff';
    const x = mirror ? W - b.x2 * scale : b.x1 * scale; const y = b.y1 * scale;
    const w = (b.x2 - b.x1) * scale; const h = (b.y2 - b.y1) * scale;
    ctx.lineWidth = lineWidth;
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, w, h);
    const text = b.label != null ? `${b.label}${b.score != null ? ' ' + (100 * b.score).toFixed(0) + '%' : ''}` : '';
    if (text) {
      const tw = ctx.measureText(text).width + 6;
      ctx.fillStyle = color;
      ctx.fillRect(x, Math.max(0, y - 18), tw, 18);
      ctx.fillStyle = '#000';
      ctx.fillText(text, x + 3, Math.max(0, y - 18) + 2);
    }
  }
  ctx.restore();
}

/** Small FPS meter: call tick() once per processed frame; fps is a moving average over ~1 s. */
export class FpsMeter {
  constructor() { this.times = []; this.fps = 0; }
  tick(now = performance.now()) {
    this.times.push(now);
    while (this.times.length > 1 && now - this.times[0] > 1000) this.times.shift();
    const n = this.times.length;
    this.fps = n > 1 ? (1000 * (n - 1)) / (now - this.times[0]) : 0;
    return this.fps;
  }
}

/**
 * Repaint a whole overlay from a plain-data scene {width, height, poses?, poseOptions?, boxes?, boxOptions?,
 * dots?: [{x, y, radius, color}]}
 * (resize to width x height, clear, draw): the unit of work web/js/overlay.js hands to its drawing worker.
 */
export function drawScene(ctx, scene) {
  const c = ctx.canvas;
  if (c.width !== scene.width || c.height !== scene.height) { c.width = scene.width; c.height = scene.height; }
  ctx.clearRect(0, 0, c.width, c.height);
  if (scene.poses) drawPoses(ctx, scene.poses, scene.poseOptions);
  if (scene.boxes) drawBoxes(ctx, scene.boxes, scene.boxOptions);
  for (const d of scene.dots || []) {
    ctx.fillStyle = d.color;
    ctx.beginPath();
    ctx.arc(d.x, d.y, d.radius, 0, 2 * Math.PI);
    ctx.fill();
  }
}

/** Number of non-transparent pixels of a canvas context (tests: "is something drawn?"). */
export function countInkPixels(ctx) {
  const d = ctx.getImageData(0, 0, ctx.canvas.width, ctx.canvas.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}
