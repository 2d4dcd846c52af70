// Detector page: an exported huia detector over the webcam or a still picture, boxes with label + score.
// Query string: ?model=<model.json URL>&backend=wasm&threshold=0.3&source=camera|none
// Test hook: window.__huia = {ready, frames, boxes, ms, meta, pause(), resume(), numTensors(), overlayInkPixels(),
// detectDataUrl(dataUrl) -> boxes}.
import { initTF, yieldToBrowser } from '../tfjs.js';
import { openCamera, closeCamera } from '../camera.js';
import { FpsMeter } from '../draw.js';
import { createOverlay } from '../overlay.js';
import { loadDetector, operatingPoint, toDrawBoxes } from '../detector.js';
import { dataDir, fillDataPaths } from '../datapath.js';

const $ = (id) => document.getElementById(id);
const video = $('video');
const still = $('still');
const overlay = $('overlay');
const painter = createOverlay(overlay); // painted by a worker: the camera loop only posts boxes
const fps = new FpsMeter();
const hook = { ready: false, frames: 0, boxes: [], ms: 0, meta: null, error: null, paused: false, detector: null,
  pause() { hook.paused = true; }, resume() { hook.paused = false; },
  numTensors() { return tf ? tf.memory().numTensors : null; },
  /** Non-transparent pixels of the overlay once the latest boxes are painted. */
  overlayInkPixels() { return painter.inkPixels(); } };
window.__huia = hook;

let tf = null;
let detector = null;
let stream = null;
let generation = 0;
let source = 'camera';
let picture = null; // the still picture on show (picture mode): re-detected when the threshold or the model changes
let pictureBusy = null;

function setStatus(t) { $('status').textContent = t; }
function showError(e) {
  console.warn(e);
  hook.error = String(e && e.message ? e.message : e);
  $('errors').textContent = hook.error;
}
const threshold = () => Number($('threshold').value);

async function listModels() {
  const sel = $('model');
  try {
    const res = await fetch('/api/models');
    if (!res.ok) return;
    const data = await res.json();
    const list = (Array.isArray(data) ? data : data.models || []).filter((m) => {
      const meta = m.metadata || {};
      // a broken export ("problem": a missing weight file, bad JSON) is shown on the index page, never offered here
      return m.source === 'user' && !m.problem && (meta.task === 'detect' || (meta.huia || {}).task === 'detect');
    });
    if (!list.length) return;
    sel.innerHTML = '';
    for (const m of list) {
      const o = document.createElement('option');
      o.value = m.url; o.textContent = m.name;
      sel.appendChild(o);
    }
  } catch (e) { console.warn('model list unavailable', e); }
}

let lastTable = 0;

/** Draw boxes (in the overlay's worker); the table, which only a person reads, is rebuilt at most 4 times a
 *  second — it used to cost as much as the model. */
function render(boxes, width, height, { force = false } = {}) {
  // Mirror view flips the webcam picture; the boxes follow it, their labels stay readable. A still picture is
  // shown as it is, so its boxes are never flipped.
  const mirror = $('mirror').checked && source === 'camera';
  painter.draw({ width, height, boxes: toDrawBoxes(boxes),
    boxOptions: { lineWidth: Math.max(2, Math.round(width / 320)), mirror } });
  const now = performance.now();
  if (!force && now - lastTable < 250) return;
  lastTable = now;
  $('nbox').textContent = String(boxes.length);
  // labels come from the model's metadata, i.e. from whoever made the file: text only, never HTML
  const rows = boxes.slice(0, 20).map((b) => cells(b.label, b.score.toFixed(2), b.box.map((v) => v.toFixed(0)).join(', ')));
  for (const tr of rows) tr.lastChild.className = 'small muted';
  if (!boxes.length) {
    const tr = cells(`no boxes above the threshold (${threshold().toFixed(2)})`);
    tr.firstChild.className = 'muted';
    tr.firstChild.colSpan = 3;
    rows.push(tr);
  }
  $('boxes').querySelector('tbody').replaceChildren(...rows);
}

function cells(...texts) {
  const tr = document.createElement('tr');
  for (const t of texts) tr.insertCell().textContent = t;
  return tr;
}

async function detectOnce(src) {
  const t0 = performance.now();
  const boxes = await detector.detect(src, { threshold: threshold() });
  hook.ms = performance.now() - t0;
  hook.boxes = boxes;
  $('ms').textContent = hook.ms.toFixed(0);
  return boxes;
}

async function loop(gen) {
  while (gen === generation && source === 'camera' && detector) {
    if (hook.paused) { await new Promise((r) => setTimeout(r, 20)); continue; }
    if (video.readyState >= 2 && video.videoWidth) {
      const boxes = await detectOnce(video);
      if (gen !== generation) break;
      render(boxes, video.videoWidth, video.videoHeight);
      hook.frames += 1;
      fps.tick();
      $('fps').textContent = `${fps.fps.toFixed(1)} FPS`;
    }
    await yieldToBrowser();
  }
}

async function useCamera() {
  const gen = ++generation;
  source = 'camera';
  still.hidden = true; video.hidden = false;
  $('fps').textContent = '– FPS';   // until the webcam's frames are timed (a picture showed no FPS)
  try {
    if (!stream) {
      const s = await openCamera(video);
      // a picture was chosen (or another call opened the webcam) while this one opened: no second, hidden webcam
      if (source !== 'camera' || stream) {
        closeCamera(s);
        if (video.srcObject === s) video.srcObject = stream;
        return;
      }
      stream = s;
    }
    if (detector) loop(gen);
  } catch (e) { showError(e); }
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('could not read that picture'));
    img.src = url;
  });
}

/** Detect on a picture (data URL or object URL); shows it with its boxes. */
async function detectPicture(url) {
  ++generation;
  source = 'picture';
  if (stream) { closeCamera(stream); stream = null; video.srcObject = null; }
  const img = await loadImage(url);
  still.width = img.naturalWidth; still.height = img.naturalHeight;
  still.getContext('2d').drawImage(img, 0, 0);
  video.hidden = true; still.hidden = false;
  picture = img;
  if (!detector) throw new Error('load a model first');
  return redetectPicture();
}
hook.detectDataUrl = detectPicture;

/** Detect (again) on the picture on show: after a new picture, threshold, model or backend. Calls that arrive
 *  while one runs are folded into one more run, so dragging the slider never queues up detections. */
async function redetectPicture() {
  if (pictureBusy) { pictureBusy.again = true; return pictureBusy.done; }
  const job = { again: false };
  pictureBusy = job;
  job.done = (async () => {
    try {
      let boxes = [];
      do {
        job.again = false;
        if (!detector || !picture || source !== 'picture') return [];
        boxes = await detectOnce(picture);
        render(boxes, picture.naturalWidth, picture.naturalHeight, { force: true });
        $('fps').textContent = 'picture';   // the badge then reads "picture · N box(es) · <detection> ms"
        hook.frames += 1;
      } while (job.again);
      return boxes;
    } finally { pictureBusy = null; }
  })();
  return job.done;
}

let detectorBackend = null;

async function loadModel(url) {
  const gen = ++generation;
  $('errors').textContent = '';
  hook.ready = false;
  if (!url) {
    const dir = (await dataDir()) || 'DATA/';
    if (gen === generation) setStatus(`no model: export one to ${dir}exports/NAME or give a URL`);
    return;
  }
  setStatus('loading model…');
  try {
    const backend = $('backend').value;
    // a model on another backend cannot keep running once TF.js switches: drop it first; on the same backend the
    // running detector stays until the new one has loaded (a typo in the URL must not leave the page empty)
    if (detector && detectorBackend !== backend) { detector.dispose(); detector = null; hook.detector = null; }
    tf = await initTF(backend);
    let d;
    try {
      d = await loadDetector(tf, url);
    } catch (e) {
      if (detector && gen === generation) {
        showError(`${e.message || e} — still running the previous model`);
        setStatus(`error · previous model kept · ${tf.getBackend()}`);
        hook.ready = true;
        if (source === 'camera') useCamera(); else redetectPicture().catch(showError);
        return;
      }
      throw e;
    }
    if (gen !== generation) { d.dispose(); return; }
    if (detector) detector.dispose();
    detector = d;
    detectorBackend = backend;
    hook.meta = d.meta;
    hook.detector = d;
    $('modelInfo').textContent = `${d.meta.labels.join(', ')} · input ${d.meta.inputSize}×${d.meta.inputSize}`;
    if ($('threshold').dataset.touched !== '1') {
      $('threshold').value = String(d.meta.scoreThreshold);
      $('thresholdValue').textContent = Number(d.meta.scoreThreshold).toFixed(2);
    }
    showOperatingPoint();
    setStatus(`${url.split('/').slice(-2, -1)[0] || 'model'} · ${tf.getBackend()}`);
    hook.ready = true;
    if (source === 'camera') useCamera(); else redetectPicture().catch(showError);
  } catch (e) {
    showError(e);
    setStatus('error');
  }
}

/** Precision and recall the model had at this threshold on its held-out images (from its metadata). */
function showOperatingPoint() {
  const p = detector ? operatingPoint(detector.meta.operatingCurve, threshold()) : null;
  const pct = (x) => (x === null ? 'n/a' : `${Math.round(100 * x)} %`);
  $('operating').textContent = p ? `On its ${p.images} ${p.evaluatedOn} image${p.images === 1 ? '' : 's'} at ≥ `
    + `${p.threshold.toFixed(2)}: precision ${pct(p.precision)} (${p.tp} of ${p.tp + p.fp} boxes right), recall `
    + `${pct(p.recall)} (${p.tp} of ${p.tp + p.fn} objects found); a box counts when it overlaps one by IoU ≥ ${p.iou}.`
    : '';
  hook.operating = p;
}

$('threshold').addEventListener('input', () => {
  $('threshold').dataset.touched = '1';
  $('thresholdValue').textContent = threshold().toFixed(2);
  showOperatingPoint();
  if (source === 'picture') redetectPicture().catch(showError);
});
$('load').addEventListener('click', () => loadModel($('url').value.trim() || $('model').value));
$('model').addEventListener('change', () => { $('url').value = ''; loadModel($('model').value); });
$('backend').addEventListener('change', () => loadModel($('url').value.trim() || $('model').value));
$('useCamera').addEventListener('click', () => useCamera());
// only the webcam video is flipped by CSS; the overlay is drawn mirrored (see render) so its text reads normally
$('mirror').addEventListener('change', () => { video.style.transform = $('mirror').checked ? 'scaleX(-1)' : ''; });
let fileUrl = null;
$('file').addEventListener('change', async () => {
  const f = $('file').files[0];
  // emptied once read: choosing the same file again (say after the webcam) must fire `change` and run again
  $('file').value = '';
  if (!f) return;
  if (fileUrl) URL.revokeObjectURL(fileUrl);   // the previous file's picture is no longer on show
  fileUrl = URL.createObjectURL(f);
  try { await detectPicture(fileUrl); } catch (e) { showError(e); }
});

fillDataPaths();
(async () => {
  const q = new URLSearchParams(location.search);
  if (q.has('backend')) $('backend').value = q.get('backend');
  if (q.has('threshold')) {
    $('threshold').value = q.get('threshold'); $('threshold').dataset.touched = '1';
    $('thresholdValue').textContent = Number(q.get('threshold')).toFixed(2);
  }
  if (q.get('source') === 'none') source = 'none';
  await listModels();
  const url = q.get('model') || $('model').value;
  // the picker shows the model that runs: select it when it is one of the exports, else leave the URL field
  const listed = [...$('model').options].some((o) => o.value && o.value === url);
  if (listed) $('model').value = url;
  if (url) { $('url').value = listed ? '' : url; await loadModel(url); } else setStatus(`no exported detector yet: export one to ${(await dataDir()) || 'DATA/'}exports/NAME`);
})();
