// Live pose page: webcam -> pose estimator -> skeleton overlay, with model/backend/decoder pickers.
// Settings also come from the query string (?model=posenet&backend=wasm&stride=16&res=257&multi=1&flip=1&mirror=1
// &minPoseScore=0.2) so a link (or a test) can open the page in a given configuration.
// Two left-right switches, as the PoseNet article means them: "Flip horizontal" changes the coordinates the page
// RETURNS (x -> width - 1 - x: table, window.__huia.poses); "Mirror view" changes how the camera is SHOWN. The
// skeleton is always drawn on the picture as shown, whatever the two say.
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
let lastAllPoses = [];
let lastDrawn = [];
let lastMs = 0;
let minScore = 0;
let minPoseScore = 0;
const estimateLog = [];
let grabRequest = null;
let paused = false;

function setStatus(t) { $('status').textContent = t; }
function showError(e) {
  console.warn(e);
  errors.textContent = String(e && e.message ? e.message : e);
}

const clamped = new Map(); // field id -> what was typed and what is used instead (shown under the settings)

function showNotices() {
  $('notice').textContent = [...clamped.values()].join('; ');
}

/** A number input's value kept within its min/max, visibly: the field shows the value used and a notice says what
 *  was typed (PoseNet's decoder took 0 poses or a negative NMS radius without a word, and a score threshold of 1.5
 *  silently found nobody). */
function bounded(id, { integer = false } = {}) {
  const el = $(id);
  const lo = Number(el.min); const hi = Number(el.max);
  const typed = el.value.trim();
  let v = Number(typed);
  if (typed === '' || !Number.isFinite(v)) v = lo;
  if (integer) v = Math.round(v);
  v = Math.min(hi, Math.max(lo, v));
  const name = el.closest('label').firstChild.textContent.trim();
  if (String(v) !== typed) {
    clamped.set(id, `${name} ${typed === '' ? '(empty)' : JSON.stringify(typed)} is outside ${lo}..${hi}`
      + `${integer ? ' (whole numbers)' : ''}: using ${v}`);
    if (Number(typed) === v) clamped.delete(id); // only reformatted (e.g. "0.50"), not changed
    el.value = String(v);
    el.dataset.clampedTo = el.value;
  } else if (el.dataset.clampedTo !== typed) { // the user typed a new, valid value: the notice has been read
    clamped.delete(id);
    delete el.dataset.clampedTo;
  }
  showNotices();
  return v;
}

/** The display thresholds, read when they change (every frame uses them). */
function readThresholds() {
  minScore = bounded('minScore');
  minPoseScore = bounded('minPoseScore');
}

/** Only what the overlay draws (plain data, posted to its worker): score and the 17 keypoints. */
function plainPose(p, fx = (x) => x) {
  return { score: p.score, keypoints: p.keypoints.map((k) => ({ name: k.name, x: fx(k.x), y: k.y, score: k.score })) };
}

/** A pose in the other left-right orientation: x -> width - 1 - x (the convention of every estimator's flip). */
function mirrorPose(p, width) { return plainPose(p, (x) => width - 1 - x); }

function readConfig() {
  return {
    model: $('model').value,
    backend: $('backend').value,
    multi: $('multi').value === '1',
    outputStride: Number($('stride').value),
    inputResolution: Number($('res').value),
    maxPoses: bounded('maxPoses', { integer: true }),
    scoreThreshold: bounded('scoreThreshold'),
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
  $('minPoseScore').value = pn.min_multi_pose_score;
}

/** Settings from the address; returns what it could not use (shown once the page runs). */
function applyQuery() {
  const q = new URLSearchParams(location.search);
  const notices = [['model', 'model'], ['backend', 'backend'], ['stride', 'output stride'], ['res', 'resolution'],
    ['multi', 'multi']].map(([id, what]) => selectFromQuery($(id), q.get(id), what)).filter(Boolean);
  const set = (id, key) => { if (q.has(key)) $(id).value = q.get(key); };
  set('maxPoses', 'maxPoses'); set('minScore', 'minScore'); set('minPoseScore', 'minPoseScore');
  set('scoreThreshold', 'scoreThreshold'); set('nmsRadius', 'nmsRadius');
  if (q.get('flip') === '1') $('flip').checked = true;
  if (q.get('mirror') === '1') $('mirror').checked = true;
  return notices;
}

async function configure() {
  const gen = ++generation;
  running = false;
  const cfg = readConfig();
  $('posenet-panel').style.display = cfg.model === 'posenet' ? '' : 'none';
  // Max poses / Score threshold / NMS radius only steer multi-pose decoding
  $('multiOnly').disabled = !cfg.multi;
  $('multiHint').textContent = cfg.multi
    ? 'Multi-pose decoding: the most poses, the part score a pose must start from, and how close (pixels) two '
      + "poses' same parts may be before the weaker one is suppressed."
    : 'Used by multi-pose decoding only (single pose decodes the one strongest person).';
  setStatus(`loading ${cfg.model} on ${cfg.backend}…`);
  errors.textContent = '';
  try {
    if (estimator) { estimator.dispose(); estimator = null; }
    tf = await initTF(cfg.backend);
    const est = await createPoseEstimator(tf, {
      model: cfg.model, outputStride: cfg.outputStride, inputResolution: cfg.inputResolution, multi: cfg.multi,
      maxPoses: cfg.maxPoses, scoreThreshold: cfg.scoreThreshold, nmsRadius: cfg.nmsRadius,
      minPoseScore: 0, // the page hides weak poses itself (Min pose score), for every model alike
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



/** The pose picker of the table: one entry per shown pose (number + score, as labelled on the overlay), and
 *  "all poses" when there are several. Keeps the choice while it still exists. */
function renderPosePicker(poses) {
  const sel = $('tablePose');
  const want = poses.map((p, i) => [String(i), `pose ${i + 1} · score ${p.score.toFixed(2)}`]);
  if (poses.length > 1) want.push(['all', `all ${poses.length} poses`]);
  if (!want.length) want.push(['0', 'no pose']);
  const keep = sel.value;
  const same = sel.options.length === want.length && want.every(([v], i) => sel.options[i].value === v);
  if (!same) sel.replaceChildren(...want.map(([v, t]) => new Option(t, v)));
  else want.forEach(([, t], i) => { if (sel.options[i].textContent !== t) sel.options[i].textContent = t; });
  sel.value = want.some(([v]) => v === keep) ? keep : want[0][0];
}

function renderKeypointTable(poses) {
  renderPosePicker(poses);
  const body = $('kp').tBodies[0];
  const choice = $('tablePose').value;
  const which = choice === 'all' ? poses.map((p, i) => [i, p]) : poses[Number(choice)] ? [[Number(choice), poses[Number(choice)]]] : [];
  const rows = which.flatMap(([i, p]) => p.keypoints.map((k) => [which.length > 1 ? `${i + 1} ${k.name}` : k.name, k]));
  if (body.rows.length !== rows.length) {
    body.innerHTML = rows.map(() => '<tr><td></td><td></td><td></td></tr>').join('');
  }
  rows.forEach(([name, k], r) => {
    const c = body.rows[r].cells;
    c[0].textContent = name;
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
    let grabbed = null;
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
        grabbed = {
          png: grabCanvas.toDataURL('image/png'), width: grabCanvas.width, height: grabCanvas.height,
          videoTime: video.currentTime, stillPoses: still, singlePassPoses: single, frame: frames, flipHorizontal,
        };
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
    // the article's pose confidence score "can be used to hide poses that are not deemed strong enough"
    const shown = poses.filter((p) => p.score >= minPoseScore);
    lastAllPoses = poses;
    lastPoses = shown;
    frames += 1;
    // Drawn in the frame's own pixels: returned (flipped) coordinates are mapped back first, then the overlay
    // follows the view (mirror), so the skeleton lies on the person in all four combinations.
    const width = video.videoWidth;
    lastDrawn = shown.map((p, i) => ({ ...(flipHorizontal ? mirrorPose(p, width) : plainPose(p)),
      label: `${i + 1} · ${p.score.toFixed(2)}` }));
    const mirror = $('mirror').checked;
    // the overlay's bitmap is its displayed size (CSS px, <= 1024): composited 1:1, not upscaled on every frame
    const scale = Math.min(overlayCssWidth || width, 1024) / width;
    const ow = Math.round(width * scale); const oh = Math.round(video.videoHeight * scale);
    painter.draw({ width: ow, height: oh, poses: lastDrawn, poseOptions: {
      minScore, lineWidth: Math.max(2, ow / 140), radius: Math.max(2, ow / 160), scale, mirror,
      font: `${Math.round(Math.max(12, ow / 55))}px sans-serif` } });
    fps.tick();
    if (frames % 15 === 0 || grab) {
      $('fps').textContent = `${fps.fps.toFixed(1)} FPS`;
      $('npose').textContent = String(shown.length);
      $('nhidden').textContent = poses.length > shown.length
        ? ` (${poses.length - shown.length} below min pose score)` : '';
      $('ms').textContent = lastMs.toFixed(0);
      renderKeypointTable(shown);
    }
    if (grab) {
      // poses: what the page returns (flipped if asked, weak poses hidden); allPoses: before hiding; drawn: the
      // frame-pixel skeletons handed to the overlay, with the view's mirror flag
      grab.resolve({ ...grabbed, poses: shown, allPoses: poses, drawn: lastDrawn, mirror, minPoseScore });
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
  /** The poses the page returns: flipped when Flip horizontal is on, those below Min pose score left out. */
  get poses() { return lastPoses; },
  /** Every pose of the last frame, before Min pose score. */
  get allPoses() { return lastAllPoses; },
  /** The skeletons last handed to the overlay, in the frame's own pixels (the overlay mirrors them with the view). */
  get drawn() { return lastDrawn; },
  get lastMs() { return lastMs; },
  /** The page's estimate() ms of its last `n` frames (up to 512), so a benchmark need not poll the page. */
  recentEstimateMs(n) { return estimateLog.slice(-Math.min(n, 512)); },
  get backend() { return tf ? tf.getBackend() : null; },
  get model() { return estimator ? estimator.name : null; },
  numTensors() { return tf ? tf.memory().numTensors : null; },
  /** Non-transparent pixels of the overlay once the latest skeleton is painted (the canvas belongs to a worker). */
  overlayInkPixels() { return painter.inkPixels(); },
  /** Resolve with {png, width, height, videoTime, poses, allPoses, drawn, mirror, stillPoses, frame} for the next
   *  processed frame (stillPoses / singlePassPoses: the estimator's own output, no Min pose score). */
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
  // Mirror view flips the video only; the overlay is drawn mirrored (drawPoses' mirror) so score tags read normally
  const showMirror = () => { video.style.transform = $('mirror').checked ? 'scaleX(-1)' : ''; };
  showMirror();
  $('mirror').addEventListener('change', showMirror);
  readThresholds();
  for (const id of ['minScore', 'minPoseScore']) $(id).addEventListener('change', readThresholds);
  $('tablePose').addEventListener('change', () => renderKeypointTable(lastPoses));
  // a video smoother holding the other orientation's keypoints would glide the skeleton across the frame
  $('flip').addEventListener('change', () => { if (estimator) estimator.reset(); });
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
