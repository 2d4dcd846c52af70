// Skeleton images for skeleton-image pose classifiers (the Huia article: keypoints drawn as coloured limbs, then
// classified by a MobileNet). The same rasterizer as huia.pose.render.render_skeleton(fit=True), the trainer's
// input (huia.classify.dataset.skeleton_image), operation for operation in float64, so the page feeds the model
// bit-identical pixels: limbs are capsules and joints discs with coverage clamp(r + 0.5 - distance, 0, 1) at
// integer pixel positions, blended in spec order, rounded once. Keypoints go through float32 first, as the trainer
// stores them. Constants: /spec/keypoints.json (skeleton_image, part_colors, joint_color, coco17 edges).

function stamp(canvas, w, h, ax, ay, bx, by, radius, color) {
  const x0 = Math.max(0, Math.ceil(Math.min(ax, bx) - radius - 1));
  const x1 = Math.min(w - 1, Math.floor(Math.max(ax, bx) + radius + 1));
  const y0 = Math.max(0, Math.ceil(Math.min(ay, by) - radius - 1));
  const y1 = Math.min(h - 1, Math.floor(Math.max(ay, by) + radius + 1));
  const dx = bx - ax; const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      let t = 0;
      if (len2 > 0) {
        t = ((x - ax) * dx + (y - ay) * dy) / len2;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
      }
      const ex = x - (ax + t * dx); const ey = y - (ay + t * dy);
      let cov = radius + 0.5 - Math.sqrt(ex * ex + ey * ey);
      if (cov <= 0) continue;
      if (cov > 1) cov = 1;
      const o = 3 * (y * w + x);
      for (let c = 0; c < 3; c++) canvas[o + c] += cov * (color[c] - canvas[o + c]);
    }
  }
}

/**
 * The keypoints (COCO-17 order from the spec, by name; missing ones score 0) as float32 [x, y, score] triples,
 * scaled and centred so the confident ones fill the canvas minus `margin` on each side (render.py's _fit).
 */
export function fitKeypoints(pose, spec, size, margin, minScore) {
  const by = {};
  for (const k of pose.keypoints) by[k.name] = k;
  const f = Math.fround;
  const kp = spec.coco17.names.map((n) => (by[n] ? [f(by[n].x), f(by[n].y), f(by[n].score)] : [0, 0, 0]));
  const ok = kp.filter((k) => k[2] >= minScore);
  if (ok.length < 2) return kp;
  let lx = Infinity; let ly = Infinity; let hx = -Infinity; let hy = -Infinity;
  for (const [x, y] of ok) { lx = Math.min(lx, x); ly = Math.min(ly, y); hx = Math.max(hx, x); hy = Math.max(hy, y); }
  const spanX = Math.max(hx - lx, 1e-6); const spanY = Math.max(hy - ly, 1e-6);
  const keep = 1 - 2 * margin;
  const scale = Math.min((size * keep) / spanX, (size * keep) / spanY);
  const cx = (lx + hx) / 2; const cy = (ly + hy) / 2;
  return kp.map(([x, y, s]) => [(x - cx) * scale + size / 2, (y - cy) * scale + size / 2, s]);
}

/**
 * Pose {keypoints: [{name, x, y, score}]} -> RGB bytes (Uint8Array, size x size x 3) of its skeleton image.
 * `minScore`: keypoints below it are not drawn (the classifier's keypoints.min_score). `drawing`: thickness,
 * joint_radius, margin, background a model was trained with, when its metadata records them (default: the spec's).
 */
export function renderSkeletonImage(pose, spec, {
  size = 224, minScore = spec.keypoint_features.min_score, drawing = {},
} = {}) {
  const sk = { ...spec.skeleton_image };
  for (const k of ['thickness', 'joint_radius', 'margin', 'background']) if (drawing[k] != null) sk[k] = drawing[k];
  const kp = fitKeypoints(pose, spec, size, sk.margin, minScore);
  const canvas = new Float64Array(size * size * 3);
  for (let i = 0; i < size * size; i++) for (let c = 0; c < 3; c++) canvas[3 * i + c] = sk.background[c];
  const idx = {};
  spec.coco17.names.forEach((n, i) => { idx[n] = i; });
  const ok = kp.map(([x, y, s]) => Number.isFinite(x) && Number.isFinite(y) && s >= minScore);
  spec.coco17.edges.forEach(([a, b], e) => {
    const ia = idx[a]; const ib = idx[b];
    if (!ok[ia] || !ok[ib]) return;
    const color = spec.part_colors[spec.coco17.edge_parts[e]];
    stamp(canvas, size, size, kp[ia][0], kp[ia][1], kp[ib][0], kp[ib][1], sk.thickness / 2, color);
  });
  kp.forEach(([x, y], i) => { if (ok[i]) stamp(canvas, size, size, x, y, x, y, sk.joint_radius, spec.joint_color); });
  const out = new Uint8Array(canvas.length);
  for (let i = 0; i < canvas.length; i++) out[i] = Math.floor(canvas[i] + 0.5);
  return out;
}

/** RGB bytes -> an RGBA ImageData (to show what the classifier sees). */
export function rgbToImageData(rgb, size) {
  const img = new ImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    img.data[4 * i] = rgb[3 * i]; img.data[4 * i + 1] = rgb[3 * i + 1]; img.data[4 * i + 2] = rgb[3 * i + 2];
    img.data[4 * i + 3] = 255;
  }
  return img;
}
