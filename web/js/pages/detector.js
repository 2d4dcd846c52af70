// Detector page: an exported huia detector over the webcam or a still picture, boxes with label + score.
// Query string: ?model=<model.json URL>&backend=wasm&threshold=0.3&source=camera|none
// Test hook: window.__huia = {ready, frames, boxes, ms, meta, pause(), resume(), numTensors(), overlayInkPixels(),
// detectDataUrl(dataUrl) -> boxes}.
import { initTF, yieldToBrowser } from '../tfjs.js';
import { openCamera, closeCamera } from '../camera.js';
import { FpsMeter } from '../draw.js';
import { createOverlay } from '../overlay.js';
import { loadDetector, toDrawBoxes } from '../detector.js';

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
      return m.source === 'user' && (meta.task === 'detect' || (meta.huia || {}).task === 'detect');
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
  painter.draw({ width, height, boxes: toDrawBoxes(boxes), boxOptions: { lineWidth: Math.max(2, Math.round(width / 320)) } });
  const now = performance.now();
  if (!force && now - lastTable < 250) return;
  lastTable = now;
  $('nbox').textContent = String(boxes.length);
  const tbody = $('boxes').querySelector('tbody');
  tbody.innerHTML = '';
  for (const b of boxes.slice(0, 20)) {
    const tr = document.createElement('tr');
    tr.innerHTML = `<td>${b.label}</td><td>${b.score.toFixed(2)}</td><td class="small muted">${b.box.map((v) => v.toFixed(0)).join(', ')}</td>`;
    tbody.appendChild(tr);
  }
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
  try {
    if (!stream) stream = await openCamera(video);
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
  if (!detector) throw new Error('load a model first');
  const boxes = await detectOnce(img);
  render(boxes, img.naturalWidth, img.naturalHeight, { force: true });
  hook.frames += 1;
  return boxes;
}
hook.detectDataUrl = detectPicture;

async function loadModel(url) {
  const gen = ++generation;
  $('errors').textContent = '';
  hook.ready = false;
  if (!url) { setStatus('no model: export one to DATA/exports/NAME or give a URL'); return; }
  setStatus('loading model…');
  try {
    tf = await initTF($('backend').value);
    if (detector) { detector.dispose(); detector = null; }
    const d = await loadDetector(tf, url);
    if (gen !== generation) { d.dispose(); return; }
    detector = d;
    hook.meta = d.meta;
    hook.detector = d;
    $('modelInfo').textContent = `${d.meta.labels.join(', ')} · input ${d.meta.inputSize}×${d.meta.inputSize}`;
    if ($('threshold').dataset.touched !== '1') {
      $('threshold').value = String(d.meta.scoreThreshold);
      $('thresholdValue').textContent = Number(d.meta.scoreThreshold).toFixed(2);
    }
    setStatus(`${url.split('/').slice(-2, -1)[0] || 'model'} · ${tf.getBackend()}`);
    hook.ready = true;
    if (source === 'camera') useCamera();
  } catch (e) {
    showError(e);
    setStatus('error');
  }
}

$('threshold').addEventListener('input', () => {
  $('threshold').dataset.touched = '1';
  $('thresholdValue').textContent = threshold().toFixed(2);
});
$('load').addEventListener('click', () => loadModel($('url').value.trim() || $('model').value));
$('model').addEventListener('change', () => { $('url').value = ''; loadModel($('model').value); });
$('backend').addEventListener('change', () => loadModel($('url').value.trim() || $('model').value));
$('useCamera').addEventListener('click', () => useCamera());
$('mirror').addEventListener('change', () => $('stage').classList.toggle('mirror', $('mirror').checked));
$('file').addEventListener('change', async () => {
  const f = $('file').files[0];
  if (!f) return;
  try { await detectPicture(URL.createObjectURL(f)); } catch (e) { showError(e); }
});

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
  if (url) { $('url').value = q.get('model') || ''; await loadModel(url); } else setStatus('no exported detector yet');
})();
