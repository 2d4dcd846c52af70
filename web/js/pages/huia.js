// The Huia experience: webcam -> pose -> signals (head direction, both arms raised, pose class) -> a 3D bird.
// Computing (pose, signals) is separate from showing (bird.js, draw.js). Mouse fallback without a camera.
// Query: ?camera=0 forces the mouse, ?model=..., ?classifier=/models/user/NAME/model.json, ?backend=...
// Classifiers: keypoint features, or skeleton image (keypoints drawn as coloured limbs, web/js/huia/skeleton.js)
// through its backbone; the picker lists only those (poseClassifierProblem). Which class plays which animation is
// the user's choice (a table per classifier, kept in localStorage); a resting class plays nothing by default.
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
import { renderSkeletonImage, rgbToImageData } from '../huia/skeleton.js';

const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
const video = $('video');
const overlay = $('overlay');
const painter = createOverlay(overlay);
const fps = new FpsMeter();
// a class whose name says "nothing is happening" (the article's 'normal') plays no animation unless the user picks one
const REST_WORDS = ['normal', 'rest', 'resting', 'idle', 'none', 'neutral', 'background', 'default', 'nothing',
  'relaxed', 'still', 'standing', 'other'];
const REST_POSES = /^((arms?|hands?)[ _-]*)?(down|low|lowered)$/;
const NONE = 'none'; // the table's "no animation"
const STORE_PREFIX = 'huia.animations:';

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
let classifier = null; // {model, meta, kind: 'keypoints' | 'skeleton', url, name, animations: {label: name | null}}
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
/** Does a class name read as the resting pose? ('normal', 'idle', 'arms_down', 'Hands down', ...) */
function restLike(label) {
  const l = String(label).toLowerCase().trim();
  return l.split(/[^a-z0-9]+/).some((w) => REST_WORDS.includes(w)) || REST_POSES.test(l);
}

/** The automatic choice for a class (the table's default): none for a resting class, an animation named in the
 *  class name, jump for raised arms, else one by the class's index. */
function defaultAnimation(label, labels) {
  if (restLike(label)) return null;
  const l = String(label).toLowerCase();
  const direct = HuiaBird.ANIMATIONS.find((a) => l.includes(a));
  if (direct) return direct;
  if (/(hands?_?up|arms?_?up|raise)/.test(l)) return 'jump';
  const i = labels.indexOf(label);
  return HuiaBird.ANIMATIONS[1 + (Math.max(0, i) % (HuiaBird.ANIMATIONS.length - 1))];
}

function animationFor(label) {
  return classifier && classifier.animations[label] !== undefined ? classifier.animations[label] : null;
}

/** The export's name from its URL (/models/user/NAME/model.json); the URL itself for any other address. */
function exportName(url) {
  const m = /\/models\/user\/([^/]+)\/model\.json$/.exec(String(url).split('?')[0]);
  return m ? decodeURIComponent(m[1]) : String(url);
}

function storedAnimations(name) {
  try {
    const v = JSON.parse(localStorage.getItem(STORE_PREFIX + name) || '{}');
    return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
  } catch (e) { return {}; }
}

/** Class -> animation (null: none) for a classifier: what the user chose for it before, else the default. */
function animationsFor(name, labels) {
  const stored = storedAnimations(name);
  const out = {};
  for (const l of labels) {
    const v = Object.prototype.hasOwnProperty.call(stored, l) ? stored[l] : undefined;
    if (v === NONE) out[l] = null;
    else if (HuiaBird.ANIMATIONS.includes(v)) out[l] = v;
    else out[l] = defaultAnimation(l, labels);
  }
  return out;
}

function saveAnimations() {
  if (!classifier) return;
  const v = {};
  for (const [l, a] of Object.entries(classifier.animations)) v[l] = a || NONE;
  try { localStorage.setItem(STORE_PREFIX + classifier.name, JSON.stringify(v)); } catch (e) { /* private mode */ }
}

/** One row per class: its name and a select of the bird's animations plus none. */
function showAnimationTable() {
  const body = $('animations').tBodies[0];
  body.replaceChildren();
  $('animations-wrap').hidden = !classifier;
  if (!classifier) return;
  for (const label of classifier.meta.labels) {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = label;
    const sel = document.createElement('select');
    sel.dataset.class = label;
    sel.setAttribute('aria-label', `animation for ${label}`);
    for (const a of [NONE, ...HuiaBird.ANIMATIONS]) {
      const o = document.createElement('option');
      o.value = a; o.textContent = a;
      sel.appendChild(o);
    }
    sel.value = classifier.animations[label] || NONE;
    sel.addEventListener('change', () => {
      classifier.animations[label] = sel.value === NONE ? null : sel.value;
      saveAnimations();
    });
    const td = document.createElement('td');
    td.appendChild(sel);
    tr.append(th, td);
    body.appendChild(tr);
  }
  $('animations-note').textContent = `kept in this browser for “${classifier.name}”; a resting class (normal, idle, `
    + 'arms down, …) plays nothing until you choose an animation for it';
}

/** Why an export (its userDefinedMetadata and model.json format) cannot drive the bird, or null when it can: the
 *  page runs keypoint-feature classifiers and skeleton-image classifiers exported with their backbone. Returns
 *  {what, why}: what the model is, and why it cannot be used here. */
function poseClassifierProblem(meta, format) {
  if (!meta || typeof meta !== 'object' || Object.keys(meta).length === 0) {
    return { what: 'a model without huia metadata', why: 'the page needs its labels and input (userDefinedMetadata)' };
  }
  const h = meta.huia && typeof meta.huia === 'object' ? meta.huia : {};
  const task = h.task || meta.task;
  const needPose = 'the bird needs a pose classifier (huia classify train --task keypoints or --task skeleton)';
  if (task && task !== 'classify') {
    return { what: task === 'detect' ? 'an object detector' : `a ${task} model`, why: needPose };
  }
  if (!Array.isArray(meta.labels) || meta.labels.length < 1) {
    return { what: 'a classifier without labels in its metadata', why: 'the page cannot name its classes' };
  }
  const input = meta.input;
  const kind = h.classifier || (meta.skeleton ? 'skeleton' : meta.keypoints && input === 'features' ? 'keypoints'
    : input === 'image' || meta.backbone ? 'image' : null);
  if (kind === 'image') {
    const bb = meta.backbone && meta.backbone.bundled_model ? meta.backbone.bundled_model : null;
    const what = input === 'image' ? `an image classifier (camera frames${bb ? ` through ${bb}` : ''})`
      : `an image classifier's head (it reads ${bb || 'image'} features)`;
    return { what, why: 'it classifies the picture, not your pose (use it on the Gestures page; for the bird, train '
      + 'a keypoints or skeleton classifier)' };
  }
  if (kind === 'skeleton') {
    if (input !== 'image') {
      return { what: 'a skeleton classifier exported without its backbone (a head only)',
        why: 'the page needs the whole pipeline: export the run again with huia export --format graph' };
    }
    if (format && format !== 'graph-model') {
      return { what: `a skeleton classifier in a ${format}`, why: 'the whole pipeline must be a graph model' };
    }
    return null;
  }
  if (kind === 'keypoints') {
    if (input !== 'features') {
      return { what: `a keypoint classifier with input ${JSON.stringify(input)}`, why: 'it must read keypoint features' };
    }
    return null;
  }
  return { what: `a ${h.classifier ? `${h.classifier} ` : ''}classifier with input ${JSON.stringify(input)}`,
    why: 'the bird needs keypoint features or a skeleton image' };
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
  clearSkeleton();
  $('skeleton-wrap').hidden = true;
  showAnimationTable();
  if (!url) { $('klass').textContent = '–'; return null; }
  const name = exportName(url);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const json = await res.json();
  const meta = json.userDefinedMetadata || {};
  const problem = poseClassifierProblem(meta, json.format);
  if (problem) throw new Error(`${name} is ${problem.what}, so it cannot drive the bird: ${problem.why}`);
  const kind = meta.huia && meta.huia.classifier ? meta.huia.classifier : (meta.skeleton ? 'skeleton' : 'keypoints');
  const model = json.format === 'graph-model' ? await tf.loadGraphModel(url) : await tf.loadLayersModel(url);
  const labels = meta.labels.map(String);
  classifier = { model, meta: { ...meta, labels }, kind, url, name, animations: animationsFor(name, labels) };
  $('klass').textContent = `loaded (${labels.join(', ')})`;
  $('skeleton-wrap').hidden = kind !== 'skeleton';
  showAnimationTable();
  return { labels, kind, animations: { ...classifier.animations } };
}

/** The classifier's skeleton image of a pose: RGB bytes, size x size x 3 (huia.classify.dataset.skeleton_image). */
function skeletonImage(pose, meta = classifier ? classifier.meta : {}) {
  const size = (meta.skeleton && meta.skeleton.size) || meta.input_size || 224;
  const minScore = (meta.keypoints && meta.keypoints.min_score) || spec.keypoint_features.min_score;
  return { rgb: renderSkeletonImage(pose, spec, { size, minScore, drawing: meta.skeleton || {} }), size };
}

/** Blank the skeleton thumbnail: no stale camera skeleton in mouse mode or after another classifier loads. */
function clearSkeleton() {
  lastSkeleton = null;
  const c = $('skeleton');
  c.getContext('2d').clearRect(0, 0, c.width, c.height);
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
    return run(tf.tensor4d(Float32Array.from(sk.rgb), [1, sk.size, sk.size, 3]));
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
  clearSkeleton();
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

/** The mouse position over the scene in normalised device coordinates (-1..1, +y up). */
function sceneNDC(e) {
  const r = $('scene').getBoundingClientRect();
  return { x: ((e.clientX - r.left) / r.width) * 2 - 1, y: -(((e.clientY - r.top) / r.height) * 2 - 1) };
}

function onMouseMove(e) {
  const p = sceneNDC(e);
  // the article's hover effect, in camera and mouse mode alike: the bird turns to wireframe under the pointer
  view.bird.setWireframe(view.hitsBird(p.x, p.y));
  if (source !== 'mouse') return;
  view.bird.lookAt(Math.max(-1, Math.min(1, p.x)), Math.max(-1, Math.min(1, p.y)));
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
      jumps: b.jumps, jumping: b.jumpT != null, animation: b.anim ? b.anim.name : null, wireframe: b.wireframe,
      classifier: classifier ? classifier.name : null,
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
  /** Where the bird's torso is on the scene canvas, in normalised device coordinates (tests hover it). */
  torsoNDC: () => view.project(view.bird.torso),
  /** The bird's materials ({wireframe, emissive}), to check the hover effect reached every one. */
  birdMaterials() {
    const out = [];
    view.bird.body.traverse((o) => { if (o.isMesh) out.push({ wireframe: o.material.wireframe, emissive: o.material.emissive.getHex() }); });
    return out;
  },
  /** The class -> animation table in force (null: none). */
  animations: () => (classifier ? { ...classifier.animations } : null),
  restLike,
  defaultAnimation,
  poseClassifierProblem,
};

/** The picker offers only exports that can drive the bird; the others are counted, not listed. */
async function listClassifiers() {
  let j;
  try { j = await (await fetch('/api/models')).json(); } catch (e) { return; } // the list is a convenience
  let other = 0; let broken = 0;
  for (const m of j.models || []) {
    if (m.source !== 'user') continue;
    if (poseClassifierProblem(m.metadata, m.format)) { other += 1; continue; }
    if (m.problem) { broken += 1; continue; }
    const o = document.createElement('option');
    o.value = m.url; o.textContent = m.name;
    $('classifier').appendChild(o);
  }
  const parts = [];
  if (other) parts.push(other > 1 ? `${other} other exports are not pose classifiers` : '1 other export is not a pose classifier');
  if (broken) parts.push(`${broken} pose classifier${broken > 1 ? 's are' : ' is'} broken (see the home page)`);
  $('classifiersHint').textContent = parts.length ? `${parts.join('; ')} (not listed)` : '';
}

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
    $('scene').addEventListener('mouseleave', () => view.bird.setWireframe(false));
    $('scene').addEventListener('click', () => { if (source === 'mouse' && view.bird.jump()) { events.push({ type: 'jump', t: performance.now() / 1000, mouse: true }); flash('jump!'); } });
    $('useMouse').addEventListener('click', () => (source === 'mouse' ? useCamera() : useMouse('asked')));
    const notice = selectFromQuery($('model'), q.get('model'), 'model');
    if (notice) showError(notice);
    tf = await initTF(q.get('backend') || 'wasm');
    await listClassifiers();
    $('classifier').addEventListener('change', async () => {
      $('errors').textContent = '';
      try { await loadClassifier($('classifier').value); } catch (e) { showError(e); }
    });
    $('model').addEventListener('change', async () => {
      if (source === 'mouse') { setStatus(`mouse · ${$('model').value} runs when the camera is on`); return; }
      try { await setModel($('model').value); } catch (e) { showError(e); }
    });
    if (q.get('classifier')) {
      // the picker shows it when listed; a bad or unusable classifier is reported in one line (what it is, why it
      // cannot drive the bird), and the page still runs (camera or mouse) without a classifier
      if ([...$('classifier').options].some((o) => o.value === q.get('classifier'))) $('classifier').value = q.get('classifier');
      try { await loadClassifier(q.get('classifier')); } catch (e) { showError(e); $('classifier').value = ''; }
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
