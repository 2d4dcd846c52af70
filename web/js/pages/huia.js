// The Huia experience: webcam -> pose -> signals (head direction, both arms raised, pose class) -> a 3D bird.
// Computing (pose, signals) is separate from showing (bird.js, draw.js). Mouse fallback without a camera.
// Query: ?camera=0 forces the mouse, ?model=..., ?classifier=/models/user/NAME/model.json, ?backend=...
// Classifiers: keypoint features, camera image, or skeleton image (keypoints drawn as coloured limbs,
// web/js/huia/skeleton.js).
import { initTF, yieldToBrowser } from '../tfjs.js';
import { closeCamera, openCamera } from '../camera.js';
import { FpsMeter } from '../draw.js';
import { createOverlay } from '../overlay.js';
import { bytesToBase64 } from '../bytes.js';
import { loadSignals, loadSpec } from '../spec.js';
import { createPoseEstimator, fillPoseModelSelect } from '../pose/index.js';
import { selectFromQuery } from '../query.js';
import { ArmsRaisedTrigger, HeadDirectionTracker } from '../pose/signals.js';
import { createHuiaScene, HuiaBird } from '../huia/bird.js';
import { centerSquare } from '../features.js';
import { renderSkeletonImage, rgbToImageData } from '../huia/skeleton.js';

const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
const video = $('video');
const overlay = $('overlay');
const painter = createOverlay(overlay);
const fps = new FpsMeter();
const REST_CLASSES = ['normal', 'rest', 'idle', 'none', 'neutral', 'background'];

let tf = null;
let cfg = null;
let spec = null;
let estimator = null;
let view = null;
let source = 'starting';
let stream = null; // the webcam, closed in mouse mode (so its light goes off)
let frames = 0;
let lastPose = null;
let head = { direction: { yaw: null, pitch: null }, label: 'center' };
let trigger = null;
let tracker = null;
let classifier = null; // {model, meta, kind: 'keypoints' | 'image' | 'skeleton'}
let lastSkeleton = null; // {rgb, size}: the skeleton image the classifier saw last
let grabRequest = null;
let klass = { label: null, confidence: 0, streak: 0, active: null };
const events = [];
let generation = 0;

function setStatus(t) { $('status').textContent = t; }
function showError(e) { console.warn(e); $('errors').textContent = String(e && e.message ? e.message : e); }


function flash(text) {
  const el = $('event');
  el.textContent = text;
  el.classList.add('on');
  setTimeout(() => el.classList.remove('on'), 50);
}

// -- signals -> bird ----------------------------------------------------------------------------------------------------
function animationFor(label) {
  const l = String(label).toLowerCase();
  if (REST_CLASSES.includes(l)) return null;
  const direct = HuiaBird.ANIMATIONS.find((a) => l.includes(a));
  if (direct) return direct;
  if (/(hands?_?up|arms?_?up|raise)/.test(l)) return 'jump';
  const i = classifier ? classifier.meta.labels.indexOf(label) : 0;
  return HuiaBird.ANIMATIONS[1 + (Math.max(0, i) % (HuiaBird.ANIMATIONS.length - 1))];
}

/** Feed one pose (or null) at time t seconds through the signals; the bird reacts. Returns what happened. */
function handlePose(pose, t, prediction = null) {
  lastPose = pose;
  head = tracker.update(pose, t);
  const jumped = trigger.update(pose);
  const d = head.direction;
  if (d.yaw != null) view.bird.lookAt(-d.yaw, d.pitch); // the preview is a mirror: the bird mirrors you too
  let played = null;
  if (jumped && view.bird.jump()) {
    events.push({ type: 'jump', t, heights: trigger.heights.slice() });
    flash('jump!');
  }
  if (prediction) {
    const same = prediction.label === klass.label;
    klass = { ...klass, label: prediction.label, confidence: prediction.confidence, streak: same ? klass.streak + 1 : 1 };
    // a class must hold for 3 frames with confidence >= 0.6 before it plays, once per change
    if (klass.streak >= 3 && prediction.confidence >= 0.6 && klass.active !== prediction.label) {
      klass.active = prediction.label;
      const anim = animationFor(prediction.label);
      // every accepted class change is logged; `animation` is null when the class has none (a rest class) or the
      // bird could not start it (e.g. the arms-raised trigger's jump is already playing)
      const ok = Boolean(anim && view.bird.play(anim));
      events.push({ type: 'class', t, label: prediction.label, animation: ok ? anim : null });
      if (ok) {
        played = anim;
        flash(`${prediction.label} → ${anim}`);
      }
    }
  }
  return { jumped, played, head: d, label: head.label, heights: trigger.heights.slice() };
}

// -- optional pose classifier ------------------------------------------------------------------------------------------
function keypointFeatures(pose, minScore) {
  // mirrors huia.classify.dataset.keypoint_features: (x, y) about the confident keypoints' box centre / longer side
  const by = {};
  for (const k of pose.keypoints) by[k.name] = k;
  const kps = spec.coco17.names.map((n) => by[n] || { x: 0, y: 0, score: 0 });
  const out = new Float32Array(kps.length * 3);
  const vis = kps.map((k) => k.score >= minScore);
  if (vis.filter(Boolean).length < 2) return out;
  let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
  kps.forEach((k, i) => { if (vis[i]) { x0 = Math.min(x0, k.x); y0 = Math.min(y0, k.y); x1 = Math.max(x1, k.x); y1 = Math.max(y1, k.y); } });
  const cx = (x0 + x1) / 2; const cy = (y0 + y1) / 2;
  const s = Math.max(x1 - x0, y1 - y0, 1e-6);
  kps.forEach((k, i) => {
    if (!vis[i]) return;
    out[3 * i] = (k.x - cx) / s; out[3 * i + 1] = (k.y - cy) / s; out[3 * i + 2] = 1;
  });
  return out;
}

async function loadClassifier(url) {
  if (classifier) { classifier.model.dispose(); classifier = null; }
  klass = { label: null, confidence: 0, streak: 0, active: null };
  if (!url) { $('klass').textContent = '–'; return null; }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const json = await res.json();
  const meta = json.userDefinedMetadata || {};
  if (!Array.isArray(meta.labels)) throw new Error(`${url}: no labels in userDefinedMetadata`);
  let kind;
  if (meta.skeleton) {
    // the Huia article's approach: keypoints drawn as a skeleton image -> MobileNet (whole pipeline in one graph)
    if (meta.input !== 'image') {
      throw new Error(`${url}: a skeleton classifier needs its backbone: export it with --format graph`);
    }
    kind = 'skeleton';
  } else if (meta.keypoints && meta.input === 'features') kind = 'keypoints';
  else if (meta.input === 'image') kind = 'image';
  else {
    throw new Error(`${url}: unknown classifier input ${JSON.stringify(meta.input)} `
      + '(expected keypoint features, an image or a skeleton image)');
  }
  const model = json.format === 'graph-model' ? await tf.loadGraphModel(url) : await tf.loadLayersModel(url);
  classifier = { model, meta, kind, url };
  $('klass').textContent = `loaded (${meta.labels.join(', ')})`;
  $('skeleton-wrap').hidden = kind !== 'skeleton';
  return { labels: meta.labels, kind };
}

/** The classifier's skeleton image of a pose: RGB bytes, size x size x 3 (huia.classify.dataset.skeleton_image). */
function skeletonImage(pose, meta = classifier ? classifier.meta : {}) {
  const size = (meta.skeleton && meta.skeleton.size) || meta.input_size || 224;
  const minScore = (meta.keypoints && meta.keypoints.min_score) || spec.keypoint_features.min_score;
  return { rgb: renderSkeletonImage(pose, spec, { size, minScore, drawing: meta.skeleton || {} }), size };
}

function showSkeleton(sk) {
  const c = $('skeleton');
  if (c.width !== sk.size) { c.width = sk.size; c.height = sk.size; }
  c.getContext('2d').putImageData(rgbToImageData(sk.rgb, sk.size), 0, 0);
}

async function classify(pose) {
  if (!classifier || !pose) return null;
  const { model, meta, kind } = classifier;
  const run = (x) => { const r = model.predict(x); return Array.isArray(r) ? r[0] : r; };
  let sk = null;
  if (kind === 'skeleton') { sk = skeletonImage(pose, meta); lastSkeleton = sk; }
  const out = tf.tidy(() => {
    if (kind === 'keypoints') {
      const minScore = (meta.keypoints && meta.keypoints.min_score) || spec.keypoint_features.min_score;
      const f = keypointFeatures(pose, minScore);
      return run(tf.tensor2d(f, [1, f.length]));
    }
    if (kind === 'skeleton') return run(tf.tensor4d(Float32Array.from(sk.rgb), [1, sk.size, sk.size, 3]));
    const img = tf.browser.fromPixels(video);
    return run(tf.expandDims(centerSquare(tf, img, meta.input_size || 224), 0));
  });
  const p = await out.data();
  out.dispose();
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
  return { label: meta.labels[best], confidence: p[best], probs: Array.from(p) };
}

// -- camera loop ---------------------------------------------------------------------------------------------------------
function drawPreview(pose) {
  const width = video.videoWidth;
  const scene = { width, height: video.videoHeight, poses: pose ? [pose] : [],
    poseOptions: { minScore: cfg.min_keypoint_score, lineWidth: Math.max(2, width / 120) }, dots: [] };
  // the article's red dot: where the face points, projected from the nose
  const nose = pose && pose.keypoints.find((k) => k.name === 'nose');
  const d = head.direction;
  if (nose && d.yaw != null) {
    const r = width * 0.15;
    scene.dots.push({ x: nose.x + d.yaw * r, y: nose.y - d.pitch * r, radius: Math.max(5, width / 70), color: '#ff2d2d' });
  }
  painter.draw(scene);
}

function showState() {
  const d = head.direction;
  $('source').textContent = source;
  $('head').textContent = d.yaw == null ? 'not seen' : `yaw ${d.yaw.toFixed(2)} · pitch ${d.pitch.toFixed(2)} · ${head.label}`;
  const h = trigger.heights;
  $('arms').textContent = h[0] == null && h[1] == null ? '–' : `L ${h[0] == null ? '–' : h[0].toFixed(2)} · R ${h[1] == null ? '–' : h[1].toFixed(2)}${trigger.raised ? ' · UP' : ''}`;
  $('jumps').textContent = String(view.bird.jumps);
  if (!classifier) $('klass').textContent = '–';
  else if (source === 'mouse') $('klass').textContent = 'camera off';
  else if (klass.label != null) $('klass').textContent = `${klass.label} (${(100 * klass.confidence).toFixed(0)}%)`;
  else $('klass').textContent = `loaded (${classifier.meta.labels.join(', ')})`;
  $('badge').textContent = source === 'camera' ? `${fps.fps.toFixed(1)} FPS · ${estimator ? estimator.name : ''}` : 'mouse';
}

async function poseLoop(gen) {
  while (gen === generation && source === 'camera') {
    if (video.readyState < 2 || !estimator) { await yieldToBrowser(); continue; }
    let poses;
    try {
      poses = await estimator.estimate(video);
    } catch (e) { showError(e); break; }
    if (gen !== generation) break;
    const pose = poses.length ? poses[0] : null;
    let prediction = null;
    if (classifier && pose) prediction = await classify(pose);
    if (gen !== generation) break;   // switched to the mouse (or another model) meanwhile: this frame is stale
    const happened = handlePose(pose, video.currentTime, prediction);
    drawPreview(pose);
    if (prediction && classifier.kind === 'skeleton' && lastSkeleton) showSkeleton(lastSkeleton);
    if (grabRequest) {
      const g = grabRequest; grabRequest = null;
      g.resolve({ pose, prediction, played: happened.played, videoTime: video.currentTime,
        skeleton: prediction && classifier.kind === 'skeleton' ? { size: lastSkeleton.size, rgb: bytesToBase64(lastSkeleton.rgb) } : null });
    }
    frames += 1;
    fps.tick();
    if (frames % 5 === 0) showState();
    await yieldToBrowser();
  }
}

async function setModel(name) {
  const gen = ++generation;
  if (estimator) { estimator.dispose(); estimator = null; }
  estimator = await createPoseEstimator(tf, { model: name });
  trigger.reset();
  if (source === 'camera') poseLoop(gen);
}

// -- mouse fallback ------------------------------------------------------------------------------------------------------
function useMouse(reason) {
  generation++;
  source = 'mouse';
  if (stream) { closeCamera(stream); stream = null; video.srcObject = null; }
  // the camera's last values no longer hold: head, arms and pose class are cleared, not left stale
  head = { direction: { yaw: null, pitch: null }, label: 'center' };
  trigger.reset();
  trigger.heights = [null, null];
  klass = { label: null, confidence: 0, streak: 0, active: null };
  lastPose = null;
  $('stage').style.display = 'none';
  $('useMouse').textContent = 'Use the camera';
  setStatus(`mouse (${reason})`);
  showState();
}

/** Back from the mouse to the webcam (or to it the first time): open it, run the chosen pose model on it. */
async function useCamera() {
  try {
    if (!stream) stream = await openCamera(video);
  } catch (e) {
    useMouse(`no camera: ${e.message || e}`);
    return;
  }
  source = 'camera';
  $('stage').style.display = '';
  $('useMouse').textContent = 'Use the mouse instead';
  await setModel($('model').value);
  setStatus(`camera · ${tf.getBackend()}`);
  showState();
}

function onMouseMove(e) {
  if (source !== 'mouse') return;
  const r = $('scene').getBoundingClientRect();
  const x = ((e.clientX - r.left) / r.width) * 2 - 1;
  const y = ((e.clientY - r.top) / r.height) * 2 - 1;
  view.bird.lookAt(Math.max(-1, Math.min(1, x)), Math.max(-1, Math.min(1, -y)));
}

// -- render loop -------------------------------------------------------------------------------------------------------------
let lastT = performance.now();
function renderLoop(now) {
  const dt = Math.min(0.1, (now - lastT) / 1000);
  lastT = now;
  view.render(dt);
  requestAnimationFrame(renderLoop);
}

window.__huia = {
  page: 'huia',
  ready: false,
  get frames() { return frames; },
  get source() { return source; },
  get events() { return events.slice(); },
  numTensors() { return tf ? tf.memory().numTensors : null; },
  state() {
    const b = view.bird;
    return { head: head.direction, label: head.label, armsRaised: trigger.raised, heights: trigger.heights.slice(),
      jumps: b.jumps, jumping: b.jumpT != null, animation: b.anim ? b.anim.name : null,
      birdLook: { ...b.look }, birdTarget: { ...b.target }, klass: { ...klass } };
  },
  /** Drive the signals with a given pose (tests; or another pose source). Stops the camera loop first. */
  feedPose(pose, t, prediction = null) {
    if (source === 'camera') { generation++; source = 'hook'; }
    return handlePose(pose, t, prediction);
  },
  keypointFeatures(pose, minScore = spec.keypoint_features.min_score) {
    return Array.from(keypointFeatures(pose, minScore));
  },
  loadClassifier,
  classify,
  /** The classifier's skeleton image of `pose` as base64 RGB bytes ({size, rgb}). */
  skeletonImage(pose) { const sk = skeletonImage(pose); return { size: sk.size, rgb: bytesToBase64(sk.rgb) }; },
  /** Resolve with {pose, prediction, played, videoTime, skeleton} of the next camera frame the page processes. */
  grab() { return new Promise((resolve) => { grabRequest = { resolve }; }); },
  useMouse: () => useMouse('asked'),
  useCamera: () => useCamera(),
  cameraOn: () => !!(stream && stream.getTracks().some((t) => t.readyState === 'live')),
  /** Advance the bird animation by `seconds` without waiting for frames (headless rAF may be slow). */
  step(seconds) { view.render(seconds); return { jumping: view.bird.jumpT != null, y: view.bird.body.position.y }; },
  birdBounds: () => view.birdBounds(),
};

async function main() {
  fillPoseModelSelect($('model'));
  try {
    [cfg, spec] = await Promise.all([loadSignals(), loadSpec()]);
    trigger = new ArmsRaisedTrigger(cfg);
    tracker = new HeadDirectionTracker(cfg);
    view = createHuiaScene($('scene'));
    window.addEventListener('resize', () => view.resize());
    requestAnimationFrame(renderLoop);
    $('scene').addEventListener('mousemove', onMouseMove);
    $('scene').addEventListener('click', () => { if (source === 'mouse' && view.bird.jump()) { events.push({ type: 'jump', t: performance.now() / 1000, mouse: true }); flash('jump!'); } });
    $('useMouse').addEventListener('click', () => (source === 'mouse' ? useCamera() : useMouse('asked')));
    const notice = selectFromQuery($('model'), q.get('model'), 'model');
    if (notice) showError(notice);
    tf = await initTF(q.get('backend') || 'wasm');
    try {
      const r = await fetch('/api/models');
      const j = await r.json();
      for (const m of j.models || []) {
        if (m.source !== 'user' || m.problem) continue;
        const meta = m.metadata || {};
        if (!(meta.huia && meta.huia.task === 'classify')) continue;
        const o = document.createElement('option');
        o.value = m.url; o.textContent = m.name;
        $('classifier').appendChild(o);
      }
    } catch (e) { /* optional */ }
    $('classifier').addEventListener('change', async () => { try { await loadClassifier($('classifier').value); } catch (e) { showError(e); } });
    $('model').addEventListener('change', async () => {
      if (source === 'mouse') { setStatus(`mouse · ${$('model').value} runs when the camera is on`); return; }
      try { await setModel($('model').value); } catch (e) { showError(e); }
    });
    if (q.get('classifier')) {
      selectFromQuery($('classifier'), q.get('classifier'), 'classifier'); // the picker shows it (when listed)
      // a bad classifier URL is reported, and the page still runs (camera or mouse) without a classifier
      try { await loadClassifier(q.get('classifier')); } catch (e) { showError(e); }
    }
    if (q.get('camera') === '0') useMouse('camera off');
    else await useCamera();
    showState();
    window.__huia.ready = true;
  } catch (e) {
    showError(e);
    setStatus('error');
  }
}

main();
