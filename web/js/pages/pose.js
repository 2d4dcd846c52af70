// Live pose page: webcam -> pose estimator -> skeleton overlay, with model/backend/decoder pickers.
// Settings also come from the query string (?model=posenet&backend=wasm&stride=16&res=257&multi=1) so a link
// (or a test) can open the page in a given configuration.
import { initTF, yieldToBrowser } from '../tfjs.js';
import { openCamera } from '../camera.js';
import { FpsMeter } from '../draw.js';
import { createOverlay } from '../overlay.js';
import { createPoseEstimator, fillPoseModelSelect } from '../pose/index.js';
import { selectFromQuery } from '../query.js';
import { getSpec, loadSpec, POSE_MODELS } from '../spec.js';

const $ = (id) => document.getElementById(id);
const video = $('video');
const overlay = $('overlay');
// painted by a worker (web/js/overlay.js): the frame loop below only posts keypoints
const painter = createOverlay(overlay);
const errors = $('errors');
// Measured in headless Chromium (software compositing, benchmarks/browser_fps.py): a 360 px overlay stretched to
// ~890 px costs the compositor more per frame than a display-sized one (upscaling every frame vs a bigger upload).
let overlayCssWidth = 0;
new ResizeObserver((entries) => { overlayCssWidth = Math.round(entries[0].contentRect.width); }).observe(overlay);
const fps = new FpsMeter();

let tf = null;
let estimator = null;
let running = false;
let generation = 0; // bumps on every reconfigure so a stale loop stops
let frames = 0;
let lastPoses = [];
let lastMs = 0;
const estimateLog = [];
let grabRequest = null;
let paused = false;

function setStatus(t) { $('status').textContent = t; }
function showError(e) {
  console.warn(e);
  errors.textContent = String(e && e.message ? e.message : e);
}

/** A number input's value kept within its min/max (written back, so the field shows what is used): PoseNet's
 *  decoder took 0 poses or a negative NMS radius without a word. */
function bounded(id, { integer = false } = {}) {
  const el = $(id);
  const lo = Number(el.min); const hi = Number(el.max);
  let v = Number(el.value);
  if (el.value.trim() === '' || !Number.isFinite(v)) v = lo;
  if (integer) v = Math.round(v);
  v = Math.min(hi, Math.max(lo, v));
  if (String(v) !== el.value) el.value = String(v);
  return v;
}

function readConfig() {
  return {
    model: $('model').value,
    backend: $('backend').value,
    multi: $('multi').value === '1',
    outputStride: Number($('stride').value),
    inputResolution: Number($('res').value),
    maxPoses: bounded('maxPoses', { integer: true }),
    scoreThreshold: Number($('scoreThreshold').value),
    nmsRadius: bounded('nmsRadius'),
    flipHorizontal: $('flip').checked,
  };
}

/** PoseNet's decoding defaults and the overlay threshold come from /spec (shared with huia.pose), not the markup. */
async function applyDefaults() {
  const pn = POSE_MODELS.posenet;
  const choose = (id, values, value) => {
    const sel = $(id);
    for (const v of values.map(String)) if (![...sel.options].some((o) => o.value === v)) sel.add(new Option(v, v));
    sel.value = String(value);
  };
  choose('stride', pn.output_strides, pn.output_stride);
  choose('res', [pn.input_resolution], pn.input_resolution);
  $('maxPoses').value = pn.max_poses;
  $('scoreThreshold').value = pn.score_threshold;
  $('nmsRadius').value = pn.nms_radius;
  $('minScore').value = (getSpec() || await loadSpec()).draw_min_score;
}

/** Settings from the address; returns what it could not use (shown once the page runs). */
function applyQuery() {
  const q = new URLSearchParams(location.search);
  const notices = [['model', 'model'], ['backend', 'backend'], ['stride', 'output stride'], ['res', 'resolution'],
    ['multi', 'multi']].map(([id, what]) => selectFromQuery($(id), q.get(id), what)).filter(Boolean);
  const set = (id, key) => { if (q.has(key)) $(id).value = q.get(key); };
  set('maxPoses', 'maxPoses'); set('minScore', 'minScore');
  if (q.get('flip') === '1') $('flip').checked = true;
  if (q.get('mirror') === '1') $('mirror').checked = true;
  return notices;
}

async function configure() {
  const gen = ++generation;
  running = false;
  const cfg = readConfig();
  $('posenet-panel').style.display = cfg.model === 'posenet' ? '' : 'none';
  setStatus(`loading ${cfg.model} on ${cfg.backend}…`);
  errors.textContent = '';
  try {
    if (estimator) { estimator.dispose(); estimator = null; }
    tf = await initTF(cfg.backend);
    const est = await createPoseEstimator(tf, {
      model: cfg.model, outputStride: cfg.outputStride, inputResolution: cfg.inputResolution, multi: cfg.multi,
      maxPoses: cfg.maxPoses, scoreThreshold: cfg.scoreThreshold, nmsRadius: cfg.nmsRadius,
    });
    if (gen !== generation) { est.dispose(); return; }
    estimator = est;
    setStatus(`${cfg.model} · ${tf.getBackend()}`);
    running = true;
    loop(gen);
  } catch (e) {
    showError(e);
    setStatus('error');
  }
}



function renderKeypointTable(pose) {
  const body = $('kp').tBodies[0];
  if (!pose) { body.textContent = ''; return; }
  if (body.rows.length !== pose.keypoints.length) {
    body.innerHTML = pose.keypoints.map(() => '<tr><td></td><td></td><td></td></tr>').join('');
  }
  pose.keypoints.forEach((k, i) => {
    const c = body.rows[i].cells;
    c[0].textContent = k.name;
    c[1].textContent = `${k.x.toFixed(0)}, ${k.y.toFixed(0)}`;
    c[2].textContent = k.score.toFixed(2);
  });
}

async function loop(gen) {
  const grabCanvas = document.createElement('canvas');
  while (running && gen === generation) {
    if (video.readyState < 2 || paused) { await (paused ? new Promise((r) => setTimeout(r, 20)) : yieldToBrowser()); continue; }
    const t0 = performance.now();
    const flipHorizontal = $('flip').checked;
    let poses;
    let grab = null;
    try {
      if (grabRequest) {
        // The exact pixels the model sees are kept so a test can re-run them elsewhere (Python).
        grab = grabRequest; grabRequest = null;
        grabCanvas.width = video.videoWidth; grabCanvas.height = video.videoHeight;
        grabCanvas.getContext('2d').drawImage(video, 0, 0);
        const timestamp = video.currentTime * 1000;
        poses = await estimator.estimate(grabCanvas, { flipHorizontal, timestamp });
        const still = await estimator.estimate(grabCanvas, { flipHorizontal, still: true });
        const single = await estimator.estimate(grabCanvas, { flipHorizontal, still: true, singlePass: true });
        grab.resolve({
          png: grabCanvas.toDataURL('image/png'), width: grabCanvas.width, height: grabCanvas.height,
          videoTime: video.currentTime, poses, stillPoses: still, singlePassPoses: single, frame: frames,
        });
      } else {
        poses = await estimator.estimate(video, { flipHorizontal });
      }
    } catch (e) {
      if (grab) grab.reject(e);
      showError(e);
      running = false;
      break;
    }
    if (gen !== generation) break;
    lastMs = performance.now() - t0;
    estimateLog.push(lastMs);
    if (estimateLog.length > 1024) estimateLog.splice(0, estimateLog.length - 512);
    lastPoses = poses;
    frames += 1;
    // the overlay's bitmap is its displayed size (CSS px, <= 1024): composited 1:1, not upscaled on every frame
    const scale = Math.min(overlayCssWidth || video.videoWidth, 1024) / video.videoWidth;
    const ow = Math.round(video.videoWidth * scale); const oh = Math.round(video.videoHeight * scale);
    painter.draw({ width: ow, height: oh, poses, poseOptions: {
      minScore: Number($('minScore').value), lineWidth: Math.max(2, ow / 140), radius: Math.max(2, ow / 160), scale } });
    fps.tick();
    if (frames % 15 === 0) {
      $('fps').textContent = `${fps.fps.toFixed(1)} FPS`;
      $('npose').textContent = String(poses.length);
      $('ms').textContent = lastMs.toFixed(0);
      renderKeypointTable(poses[0]);
    }
    await yieldToBrowser();
  }
}

/** Test and automation hook (read-only state + a frame grabber). */
window.__huia = {
  page: 'pose',
  ready: false,
  get frames() { return frames; },
  get fps() { return fps.fps; },
  get poses() { return lastPoses; },
  get lastMs() { return lastMs; },
  /** The page's estimate() ms of its last `n` frames (up to 512), so a benchmark need not poll the page. */
  recentEstimateMs(n) { return estimateLog.slice(-Math.min(n, 512)); },
  get backend() { return tf ? tf.getBackend() : null; },
  get model() { return estimator ? estimator.name : null; },
  numTensors() { return tf ? tf.memory().numTensors : null; },
  /** Non-transparent pixels of the overlay once the latest skeleton is painted (the canvas belongs to a worker). */
  overlayInkPixels() { return painter.inkPixels(); },
  /** Resolve with {png, width, height, videoTime, poses, stillPoses, frame} for the next processed frame. */
  grab() { return new Promise((resolve, reject) => { grabRequest = { resolve, reject }; }); },
  /** Wait until `n` more frames have been processed. */
  async waitFrames(n) { const target = frames + n; while (frames < target) await new Promise((r) => setTimeout(r, 20)); return frames; },
  configure,
  /** The live estimator ({name, model, inputSize, estimate, ...}) for benchmarks and tests. */
  get estimator() { return estimator; },
  /** Pause / resume the page loop (the camera keeps streaming), e.g. to time a bare model loop in this page. */
  pause() { paused = true; },
  resume() { paused = false; },
};

async function main() {
  fillPoseModelSelect($('model'));
  await applyDefaults();
  const notices = applyQuery();
  $('stage').classList.toggle('mirror', $('mirror').checked);
  $('mirror').addEventListener('change', () => $('stage').classList.toggle('mirror', $('mirror').checked));
  for (const id of ['model', 'backend', 'multi', 'stride', 'res', 'maxPoses', 'scoreThreshold', 'nmsRadius']) {
    $(id).addEventListener('change', configure);
  }
  try {
    await openCamera(video);
  } catch (e) {
    showError(`camera: ${e.message || e}`);
    setStatus('no camera');
    return;
  }
  await configure();
  if (notices.length) showError(notices.join('; '));
  window.__huia.ready = true;
}

main();
