// Gesture trainer (the "number hand gestures" article, done well): frozen extractor + small head trained here.
// Samples are stored as feature vectors (Float32Array), not images or tensors, so hundreds per class are cheap.
import { initTF, yieldToBrowser } from '../tfjs.js';
import { openCamera } from '../camera.js';
import { FpsMeter } from '../draw.js';
import { bytesToBase64 } from '../bytes.js';
import { EXTRACTORS, createExtractor, extractorFromMetadata, centerSquare } from '../features.js';

const $ = (id) => document.getElementById(id);
const video = $('video');
const errors = $('errors');
const IDB_KEY = 'indexeddb://huia-gesture-head';

let tf = null;
let extractor = null;
let extractorKey = null;
let head = null;          // tf.LayersModel (trained here or loaded) or GraphModel (full pipeline export)
let headMeta = null;      // userDefinedMetadata of the head
let classes = [];
let samples = [];         // {label: int, feat: Float32Array}
let predicting = false;
let predictFrames = 0;
let lastPrediction = null;
let training = false;
let batchLosses = [];
let epochLosses = [];
let cameraOk = false;
const fps = new FpsMeter();

function setStatus(t) { $('status').textContent = t; }
function showError(e) { console.warn(e); errors.textContent = String(e && e.message ? e.message : e); }


// -- classes and samples -------------------------------------------------------------------------------------------
function counts() {
  const c = classes.map(() => 0);
  for (const s of samples) c[s.label] += 1;
  return c;
}

function renderLabels() {
  const box = $('labels');
  const c = counts();
  box.innerHTML = '';
  classes.forEach((name, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.label = String(i);
    b.innerHTML = `<span>${name.replace(/[<&]/g, '')}</span><span class="n">${c[i]}</span>`;
    let holding = false;
    const hold = async () => {
      holding = true;
      while (holding) { await addSampleFromVideo(i); await new Promise((r) => setTimeout(r, 60)); }
    };
    b.addEventListener('pointerdown', () => { hold(); });
    const stop = () => { holding = false; };
    b.addEventListener('pointerup', stop);
    b.addEventListener('pointerleave', stop);
    box.appendChild(b);
  });
  $('totals').textContent = `${samples.length} samples · ${c.filter((n) => n > 0).length}/${classes.length} classes have samples`;
}

function updateCounts() {
  const c = counts();
  for (const b of $('labels').children) b.querySelector('.n').textContent = String(c[Number(b.dataset.label)]);
  $('totals').textContent = `${samples.length} samples · ${c.filter((n) => n > 0).length}/${classes.length} classes have samples`;
}

function setClasses(names) {
  classes = names.map((s) => String(s).trim()).filter((s) => s.length > 0);
  samples = [];
  $('classNames').value = classes.join(',');
  renderLabels();
}

async function ensureExtractor(key, spec = EXTRACTORS[key]) {
  if (extractor && extractorKey === key) return extractor;
  if (extractor) extractor.dispose();
  extractor = null;
  setStatus(`loading ${spec.model}…`);
  extractor = await createExtractor(tf, spec);
  extractorKey = key;
  setStatus(`${spec.model} · ${tf.getBackend()}`);
  return extractor;
}

async function addFeature(label, source) {
  const ex = await ensureExtractor($('extractor').value);
  const t = ex.features(source);
  const feat = await t.data();
  t.dispose();
  samples.push({ label, feat: Float32Array.from(feat) });
}

async function addSampleFromVideo(label) {
  if (!cameraOk || video.readyState < 2) return;
  await addFeature(label, video);
  updateCounts();
}

async function imageFromUrl(url) {
  const img = new Image();
  img.src = url;
  await img.decode();
  return img;
}

// -- training --------------------------------------------------------------------------------------------------------
function drawLoss() {
  const c = $('lossChart');
  const ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  if (batchLosses.length < 1) return;
  const max = Math.max(...batchLosses) * 1.05;
  ctx.strokeStyle = '#f2a93b';
  ctx.lineWidth = 2;
  ctx.beginPath();
  batchLosses.forEach((l, i) => {
    const x = (i / Math.max(1, batchLosses.length - 1)) * (c.width - 10) + 5;
    const y = c.height - 5 - (l / max) * (c.height - 10);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
  ctx.fillStyle = '#9aa3b2';
  ctx.font = '12px sans-serif';
  ctx.fillText(`loss ${batchLosses[batchLosses.length - 1].toFixed(4)} (start ${batchLosses[0].toFixed(4)})`, 8, 14);
}

async function train() {
  const c = counts();
  const used = c.filter((n) => n > 0).length;
  if (used < 2) throw new Error('label samples for at least two classes first');
  if (training) return null;
  training = true;
  const wasPredicting = predicting;
  predicting = false;
  $('train').disabled = true;
  try {
    const ex = await ensureExtractor($('extractor').value);
    const dim = samples[0].feat.length;
    const n = samples.length;
    const flat = new Float32Array(n * dim);
    samples.forEach((s, i) => flat.set(s.feat, i * dim));
    const labels = Int32Array.from(samples.map((s) => s.label));
    if (head) head.dispose();
    head = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [dim], units: 100, activation: 'relu', kernelInitializer: 'varianceScaling', useBias: true }),
        tf.layers.dense({ units: classes.length, activation: 'softmax' }),
      ],
    });
    head.compile({ optimizer: tf.train.adam(Number($('lr').value)), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    headMeta = {
      huia: { task: 'classify', classifier: 'image', format: 'layers', source: 'studio gesture trainer' },
      labels: classes.slice(), input: 'features', input_size: ex.spec.input_size,
      normalization: { input: 'RGB 0..255', scale: ex.spec.scale, offset: ex.spec.offset, crop: 'center-square', in_graph: false },
      backbone: { bundled_model: ex.spec.model, feature_node: ex.spec.feature_node, pool: ex.spec.pool,
        feature_dim: dim, landmarks: ex.spec.landmarks },
    };
    batchLosses = [];
    epochLosses = [];
    const xs = tf.tensor2d(flat, [n, dim]);
    const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classes.length).toFloat());
    const epochs = Number($('epochs').value);
    $('trainStatus').textContent = `training on ${n} samples…`;
    await head.fit(xs, ys, {
      epochs, batchSize: Number($('batch').value), shuffle: true,
      callbacks: {
        onBatchEnd: async (batch, logs) => { batchLosses.push(logs.loss); drawLoss(); },
        onEpochEnd: async (epoch, logs) => {
          epochLosses.push(logs.loss);
          $('trainStatus').textContent = `epoch ${epoch + 1}/${epochs} · loss ${logs.loss.toFixed(5)} · accuracy ${(100 * logs.acc).toFixed(0)}% (on the training samples)`;
          await tf.nextFrame();
        },
      },
    });
    xs.dispose();
    ys.dispose();
    $('predict').disabled = false;
    $('saveIdb').disabled = false;
    $('download').disabled = false;
    $('trainStatus').textContent += ' · done';
    return { epochLosses, batchLosses };
  } finally {
    training = false;
    $('train').disabled = false;
    if (wasPredicting) startPredicting();
  }
}

// -- prediction --------------------------------------------------------------------------------------------------------
function isPipeline() { return headMeta && headMeta.input === 'image'; }

/** Probabilities for one source (video / image / canvas) as a Float32Array. */
async function probabilities(source) {
  let out;
  if (isPipeline()) {
    const size = headMeta.input_size || 224;
    out = tf.tidy(() => {
      const img = tf.browser.fromPixels(source);
      const x = tf.expandDims(centerSquare(tf, img, size), 0);
      const r = head.predict(x);
      return Array.isArray(r) ? r[0] : r;
    });
  } else {
    out = tf.tidy(() => {
      const f = extractor.features(source);
      const r = head.predict(f);
      return Array.isArray(r) ? r[0] : r;
    });
  }
  const p = await out.data();
  out.dispose();
  return Float32Array.from(p);
}

function showPrediction(p) {
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
  lastPrediction = { index: best, label: classes[best], confidence: p[best], probs: Array.from(p) };
  $('prediction').textContent = classes[best] != null ? classes[best] : String(best);
  $('confidence').textContent = `${(100 * p[best]).toFixed(0)}% confident`;
  const bars = $('bars');
  if (bars.children.length !== 3 * classes.length) {
    bars.innerHTML = classes.map((c) => `<span>${c.replace(/[<&]/g, '')}</span><div class="bar"><div></div></div><span class="v"></span>`).join('');
  }
  classes.forEach((_, i) => {
    bars.children[3 * i + 1].firstChild.style.width = `${(100 * (p[i] || 0)).toFixed(1)}%`;
    bars.children[3 * i + 2].textContent = `${(100 * (p[i] || 0)).toFixed(0)}%`;
  });
  for (const b of $('labels').children) b.classList.toggle('pred', Number(b.dataset.label) === best);
  return lastPrediction;
}

async function predictLoop() {
  while (predicting) {
    if (video.readyState >= 2 && head) {
      showPrediction(await probabilities(video));
      predictFrames += 1;
      fps.tick();
      if (predictFrames % 10 === 0) $('fps').textContent = `${fps.fps.toFixed(1)} FPS`;
    }
    await yieldToBrowser();
  }
}

function startPredicting() {
  if (!head) throw new Error('train or load a head first');
  if (!cameraOk) throw new Error('no camera');
  if (predicting) return;
  predicting = true;
  $('predict').textContent = 'Stop predicting';
  predictLoop();
}

function stopPredicting() {
  predicting = false;
  $('predict').textContent = 'Start predicting';
}

// -- save / load -----------------------------------------------------------------------------------------------------
async function saveHead(url = IDB_KEY) {
  if (!head || !head.save || isPipeline()) throw new Error('only a head trained here can be saved');
  head.setUserDefinedMetadata(headMeta);
  return head.save(url);
}

async function adoptHead(model, meta, from) {
  if (!meta || !Array.isArray(meta.labels)) throw new Error(`${from}: model has no labels in its userDefinedMetadata`);
  stopPredicting();
  if (head) head.dispose();
  head = model;
  headMeta = meta;
  classes = meta.labels.map(String);
  samples = [];
  $('classNames').value = classes.join(',');
  renderLabels();
  $('bars').innerHTML = '';
  if (!isPipeline()) {
    const spec = extractorFromMetadata(meta);
    if (!spec) throw new Error(`${from}: metadata does not say which model/node feeds the head`);
    const key = Object.keys(EXTRACTORS).find((k) => JSON.stringify(EXTRACTORS[k]) === JSON.stringify(spec))
      || `${spec.model}:${spec.feature_node}:${spec.landmarks ? 'lm' : ''}`;
    if (EXTRACTORS[key]) $('extractor').value = key;
    await ensureExtractor(key, spec);
  }
  $('predict').disabled = false;
  $('saveIdb').disabled = isPipeline();
  $('download').disabled = isPipeline();
  $('trainStatus').textContent = `loaded ${from}`;
  return { labels: classes, input: meta.input || 'features' };
}

async function loadFromUrl(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const json = await res.json();
  const meta = json.userDefinedMetadata || {};
  const model = json.format === 'graph-model' ? await tf.loadGraphModel(url) : await tf.loadLayersModel(url);
  return adoptHead(model, meta, url);
}

async function loadFromIndexedDB() {
  const model = await tf.loadLayersModel(IDB_KEY);
  return adoptHead(model, model.getUserDefinedMetadata(), 'browser storage');
}

async function loadFromFiles(files) {
  const list = Array.from(files);
  const json = list.find((f) => f.name.endsWith('.json'));
  if (!json) throw new Error('choose the model.json and its .bin files');
  const model = await tf.loadLayersModel(tf.io.browserFiles([json, ...list.filter((f) => f !== json)]));
  return adoptHead(model, model.getUserDefinedMetadata(), json.name);
}

async function listUserModels() {
  try {
    const r = await fetch('/api/models');
    const j = await r.json();
    const sel = $('userModels');
    for (const m of j.models || []) {
      if (m.source !== 'user') continue;
      const o = document.createElement('option');
      o.value = m.url; o.textContent = m.name;
      sel.appendChild(o);
    }
  } catch (e) { /* the list is a convenience */ }
}

// -- wiring ------------------------------------------------------------------------------------------------------------
const guard = (fn) => async (...a) => { try { errors.textContent = ''; return await fn(...a); } catch (e) { showError(e); return null; } };

window.__huia = {
  page: 'gestures',
  ready: false,
  get frames() { return predictFrames; },
  get classes() { return classes.slice(); },
  get prediction() { return lastPrediction; },
  get training() { return training; },
  get losses() { return { epoch: epochLosses.slice(), batch: batchLosses.slice() }; },
  counts,
  numTensors() { return tf ? tf.memory().numTensors : null; },
  heapMB() { return performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null; },
  setClasses,
  /** n samples of `label` from the webcam, as fast as the extractor runs. */
  async addSamples(label, n) { for (let i = 0; i < n; i++) await addFeature(label, video); updateCounts(); return counts(); },
  async addSampleFromImage(label, url) { await addFeature(label, await imageFromUrl(url)); updateCounts(); return counts(); },
  async predictImage(url) { return showPrediction(await probabilities(await imageFromUrl(url))); },
  train,
  startPredicting,
  stopPredicting,
  saveHead,
  /** The head as TF.js artifacts {modelJson, weightsBase64} (what model.save writes), for tests/automation. */
  async exportHead() {
    let art = null;
    head.setUserDefinedMetadata(headMeta);
    await head.save(tf.io.withSaveHandler(async (a) => { art = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
    const modelJson = { format: 'layers-model', generatedBy: 'huia studio', convertedBy: null, modelTopology: art.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: art.weightSpecs }], userDefinedMetadata: headMeta };
    return { modelJson, weightsBase64: bytesToBase64(new Uint8Array(art.weightData)) };
  },
  loadFromIndexedDB,
  loadFromUrl,
  setExtractor(key) { $('extractor').value = key; return ensureExtractor(key); },
};

async function main() {
  $('applyClasses').addEventListener('click', () => setClasses($('classNames').value.split(',')));
  $('train').addEventListener('click', guard(train));
  $('predict').addEventListener('click', guard(async () => (predicting ? stopPredicting() : startPredicting())));
  $('clear').addEventListener('click', () => { samples = []; updateCounts(); });
  $('extractor').addEventListener('change', guard(async () => {
    samples = []; updateCounts(); await ensureExtractor($('extractor').value);
  }));
  $('saveIdb').addEventListener('click', guard(async () => { await saveHead(); $('trainStatus').textContent = 'saved in this browser'; }));
  $('download').addEventListener('click', guard(() => saveHead('downloads://huia-gesture-head')));
  $('loadIdb').addEventListener('click', guard(loadFromIndexedDB));
  $('files').addEventListener('change', guard(() => loadFromFiles($('files').files)));
  $('loadUrl').addEventListener('click', guard(() => $('userModels').value && loadFromUrl($('userModels').value)));
  document.addEventListener('keydown', (e) => {
    if (e.target.tagName === 'INPUT') return;
    const i = '0123456789'.indexOf(e.key);
    if (i >= 0 && i < classes.length) guard(addSampleFromVideo)(i);
  });
  setClasses($('classNames').value.split(','));
  listUserModels();
  try {
    tf = await initTF(new URLSearchParams(location.search).get('backend') || 'wasm');
    await ensureExtractor($('extractor').value);
  } catch (e) { showError(e); setStatus('error'); return; }
  try {
    await openCamera(video);
    cameraOk = true;
  } catch (e) {
    showError(`camera: ${e.message || e} — you can still load a head; samples need a camera`);
  }
  window.__huia.ready = true;
}

main();
