// Gesture trainer (the "number hand gestures" article, done well): frozen extractor + small head trained here.
// Samples are stored as feature vectors (Float32Array), not images or tensors, so hundreds per class are cheap.
import { initTF, yieldToBrowser } from '../tfjs.js';
import { openCamera } from '../camera.js';
import { FpsMeter } from '../draw.js';
import { bytesToBase64 } from '../bytes.js';
import { EXTRACTORS, createExtractor, extractorFromMetadata, centerSquare, extractorLabel } from '../features.js';
import { fillDataPaths } from '../datapath.js';

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
let predictLoopDone = Promise.resolve();   // resolves when the running predict loop has left its last frame
let predictFrames = 0;
let lastPrediction = null;
let training = false;
let batchLosses = [];
let epochLosses = [];
let cameraOk = false;
let evaluation = null;    // the last training's held-out check (see evaluate()), or null
// samples that no saved head has learned from yet: a reload or close asks first (beforeunload)
let sampleVersion = 0;    // bumped on every added or discarded sample
let trainedVersion = -1;  // sampleVersion the head in memory was trained at
let savedVersion = 0;     // sampleVersion of the last saved head (0: nothing to lose yet)
const customSpecs = {};   // extractors named by a loaded head's metadata that are not in EXTRACTORS
const fps = new FpsMeter();
const specFor = (key) => EXTRACTORS[key] || customSpecs[key];

function setStatus(t) { $('status').textContent = t; }
function showError(e) { console.warn(e); errors.textContent = String(e && e.message ? e.message : e); }


// -- classes and samples -------------------------------------------------------------------------------------------
function counts() {
  const c = classes.map(() => 0);
  for (const s of samples) c[s.label] += 1;
  return c;
}

/** `text` as text nodes with a line-break chance after each _ - . / (so "arms_down" wraps as "arms_ / down",
 * not mid-word); the CSS still breaks anywhere when one part is wider than its box. textContent stays `text`. */
function setBreakableText(el, text) {
  el.textContent = '';
  String(text).split(/(?<=[_\-./])/).forEach((part, i) => {
    if (i > 0) el.appendChild(document.createElement('wbr'));
    el.appendChild(document.createTextNode(part));
  });
}

function renderLabels() {
  const box = $('labels');
  const c = counts();
  box.innerHTML = '';
  classes.forEach((name, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.label = String(i);
    const span = document.createElement('span');
    setBreakableText(span, name);   // as typed: text, never HTML
    const n = document.createElement('span');
    n.className = 'n';
    n.textContent = String(c[i]);
    b.append(span, n);
    // Mouse/touch: hold to take a sample every frame. Keyboard (Enter/Space fire a click with detail 0): one sample.
    let holding = false;
    const hold = async () => {
      holding = true;
      while (holding) { await guard(addSampleFromVideo)(i); await new Promise((r) => setTimeout(r, 60)); }
    };
    b.addEventListener('pointerdown', (e) => { if (e.button === 0) hold(); });
    const stop = () => { holding = false; };
    for (const ev of ['pointerup', 'pointerleave', 'pointercancel']) b.addEventListener(ev, stop);
    b.addEventListener('click', (e) => { if (e.detail === 0) guard(addSampleFromVideo)(i); });
    box.appendChild(b);
  });
  $('totals').textContent = `${samples.length} samples · ${c.filter((n) => n > 0).length}/${classes.length} classes have samples`;
  const sel = $('fileClass');
  const keep = sel.value;
  sel.innerHTML = '';
  classes.forEach((name, i) => {
    const o = document.createElement('option');
    o.value = String(i);
    o.textContent = name;
    sel.appendChild(o);
  });
  if (keep && Number(keep) < classes.length) sel.value = keep;
}

function updateCounts() {
  const c = counts();
  for (const b of $('labels').children) b.querySelector('.n').textContent = String(c[Number(b.dataset.label)]);
  $('totals').textContent = `${samples.length} samples · ${c.filter((n) => n > 0).length}/${classes.length} classes have samples`;
}

/** Class names from the "Classes" field: comma-separated, trimmed; empty or repeated names are refused with a
 * message (not dropped or altered: what is typed is what the buttons, predictions and exported labels show). */
function parseClassNames(text) {
  const names = String(text).split(',').map((s) => s.trim());
  const empty = names.findIndex((s) => s.length === 0);
  if (empty >= 0) {
    throw new Error(names.length === 1 ? 'type at least one class name'
      : `class ${empty + 1} of ${names.length} has no name (two commas in a row, or one at the end?)`);
  }
  const seen = new Set();
  for (const n of names) {
    if (seen.has(n)) throw new Error(`class name "${n}" appears twice`);
    seen.add(n);
  }
  return names;
}

async function setClasses(names) {
  const list = parseClassNames(names.map(String).join(','));
  await stopPredicting();
  classes = list;
  discardSamples();
  $('classNames').value = classes.join(',');
  $('classNamesMsg').textContent = '';
  renderLabels();
  clearPrediction();
  // a head trained (or loaded) with a class these names no longer have cannot be shown with them
  if (head && !headLabels().every((l) => classes.includes(l))) dropHead('the classes changed');
}

let loadingExtractor = null;   // {key, promise} while an extractor loads, so concurrent callers share it

async function ensureExtractor(key, spec = specFor(key)) {
  if (extractor && extractorKey === key) return extractor;
  if (!spec) throw new Error(`unknown feature extractor ${key}`);
  if (loadingExtractor && loadingExtractor.key === key) return loadingExtractor.promise;
  if (loadingExtractor) await loadingExtractor.promise.catch(() => null);
  const promise = (async () => {
    if (extractor) extractor.dispose();
    extractor = null;
    extractorKey = null;
    setStatus(`loading ${spec.model}…`);
    extractor = await createExtractor(tf, spec);
    extractorKey = key;
    setStatus(`${spec.model} · ${tf.getBackend()}`);
    return extractor;
  })();
  loadingExtractor = { key, promise };
  try { return await promise; } finally { if (loadingExtractor && loadingExtractor.promise === promise) loadingExtractor = null; }
}

async function addFeature(label, source) {
  const ex = await ensureExtractor($('extractor').value);
  const t = ex.features(source);
  const feat = await t.data();
  t.dispose();
  samples.push({ label, feat: Float32Array.from(feat) });
  sampleVersion += 1;
}

function discardSamples() {
  if (samples.length) sampleVersion += 1;
  samples = [];
}

/** Samples that would be lost on reload: some exist and no saved head was trained on exactly these. */
function unsavedSamples() { return samples.length > 0 && savedVersion !== sampleVersion; }

/** "Add images…": each file goes through the webcam's path (decoded frame -> centre square -> extractor). Files the
 * browser cannot decode are named in one line; the others are still added. */
async function addSamplesFromFiles(files, label) {
  const list = Array.from(files);
  if (!list.length) return counts();
  if (!(label >= 0 && label < classes.length)) throw new Error('choose the class the images show first');
  const bad = [];
  let added = 0;
  for (const f of list) {
    let bmp = null;
    try { bmp = await createImageBitmap(f); } catch (e) { bad.push(f.name); continue; }
    try { await addFeature(label, bmp); added += 1; } finally { bmp.close(); }
    if (added % 10 === 0) updateCounts();
  }
  updateCounts();
  $('fileMsg').textContent = `added ${added} image${added === 1 ? '' : 's'} to ${classes[label]}`;
  if (bad.length) {
    throw new Error(`${bad.length} of ${list.length} files are not images this browser can read (not added): ${bad.join(', ')}`);
  }
  return counts();
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
  ctx.fillText(`batch loss ${batchLosses[batchLosses.length - 1].toFixed(4)} (first batch ${batchLosses[0].toFixed(4)})`, 8, 14);
}

/** Epochs, learning rate and batch size from their fields, or null after putting a message next to each bad one. */
function readTrainSettings() {
  const checks = [
    ['epochs', (v) => Number.isInteger(v) && v >= 1, 'epochs must be a whole number, 1 or more'],
    ['lr', (v) => Number.isFinite(v) && v > 0, 'the learning rate must be a number above 0 (e.g. 0.0001)'],
    ['batch', (v) => Number.isInteger(v) && v >= 1, 'the batch size must be a whole number, 1 or more'],
  ];
  const out = {};
  let ok = true;
  for (const [id, valid, msg] of checks) {
    const el = $(id);
    const raw = el.value.trim();
    const v = raw === '' ? NaN : Number(raw);
    const good = valid(v);
    $(`${id}Msg`).textContent = good ? '' : `${msg}${raw === '' ? ' (the field is empty or not a number)' : `, not ${raw}`}`;
    el.setAttribute('aria-invalid', good ? 'false' : 'true');
    ok = ok && good;
    out[id] = v;
  }
  return ok ? out : null;
}

/** Each class's latest samples are held out (20 %, at least 1 from 5 samples on, none below 5): consecutive webcam
 * frames are near twins, so the latest run of frames is the fairest test the page has without a second session. */
export function heldOutCount(n) { return n >= 5 ? Math.max(1, Math.round(0.2 * n)) : 0; }

function splitSamples(trainedIdx, useAll) {
  const train = [];
  const held = [];
  for (const ci of trainedIdx) {
    const mine = samples.filter((s) => s.label === ci);
    const h = useAll ? 0 : heldOutCount(mine.length);
    train.push(...mine.slice(0, mine.length - h));
    held.push(...mine.slice(mine.length - h));
  }
  return { train, held };
}

function featureTensor(list) {
  const dim = list[0].feat.length;
  const flat = new Float32Array(list.length * dim);
  list.forEach((s, i) => flat.set(s.feat, i * dim));
  return tf.tensor2d(flat, [list.length, dim]);
}

/** Score the head on the held-out samples: accuracy, per class, confusion (rows: true class, columns: predicted). */
async function evaluate(held, labels, remap, trainedOn) {
  const k = labels.length;
  const confusion = labels.map(() => labels.map(() => 0));
  if (held.length) {
    const pred = tf.tidy(() => tf.argMax(head.predict(featureTensor(held)), 1));
    const p = await pred.data();
    pred.dispose();
    held.forEach((s, i) => { confusion[remap.get(s.label)][p[i]] += 1; });
  }
  const perClass = labels.map((name, i) => ({ label: name, n: confusion[i].reduce((a, b) => a + b, 0), correct: confusion[i][i] }));
  const correct = perClass.reduce((a, c) => a + c.correct, 0);
  return { labels, confusion, perClass, n: held.length, correct, accuracy: held.length ? correct / held.length : null,
    trainedOn, k };
}

function pct(x) { return `${(100 * x).toFixed(0)}%`; }

/** The held-out check next to the camera (one line) and under the hood (per class + confusion table). */
function showEvaluation(ev, useAll, skippedClasses) {
  const line = $('heldout');
  const detail = $('evalDetail');
  line.classList.remove('bad');
  detail.innerHTML = '';
  const skipped = skippedClasses.length
    ? ` Not trained (no samples): ${skippedClasses.join(', ')}.` : '';
  if (useAll) {
    line.textContent = `No held-out check: the head trained on every sample (${ev.trainedOn}).${skipped}`;
    return;
  }
  if (!ev.n) {
    line.textContent = `No held-out check: every class has fewer than 5 samples, so none was held out.${skipped}`;
    return;
  }
  line.textContent = `Held-out accuracy ${pct(ev.accuracy)} (${ev.correct} of ${ev.n} held-out samples, each class's `
    + `latest; the head trained on the other ${ev.trainedOn}).${ev.n < 10 ? ' A rough number: few held-out samples.' : ''}`
    + skipped;
  if (ev.accuracy < 0.8) line.classList.add('bad');
  const per = document.createElement('p');
  const none = ev.perClass.filter((c) => !c.n).map((c) => c.label);
  per.textContent = 'Held-out accuracy per class: ' + ev.perClass.filter((c) => c.n)
    .map((c) => `${c.label} ${c.correct}/${c.n}`).join(' · ')
    + (none.length ? `. None held out (fewer than 5 samples): ${none.join(', ')}.` : '');
  const cap = document.createElement('p');
  cap.className = 'muted';
  cap.textContent = `Confusion on the ${ev.n} held-out samples (rows: the true class, columns: what the head said).`;
  const wrap = document.createElement('div');
  wrap.className = 'table-wrap';
  const table = document.createElement('table');
  table.className = 'confusion';
  table.id = 'confusion';
  const head = table.createTHead().insertRow();
  head.appendChild(document.createElement('th')).textContent = 'true ↓ said →';
  for (const l of ev.labels) head.appendChild(document.createElement('th')).textContent = l;
  const body = table.createTBody();
  ev.confusion.forEach((row, i) => {
    const tr = body.insertRow();
    tr.appendChild(document.createElement('th')).textContent = ev.labels[i];
    row.forEach((v, j) => {
      const td = tr.insertCell();
      td.textContent = String(v);
      td.className = i === j ? 'diag' : (v === 0 ? 'zero' : '');
    });
  });
  wrap.appendChild(table);
  detail.append(per, cap, wrap);
}

async function train() {
  if (training) return null;
  const settings = readTrainSettings();
  if (!settings) throw new Error('fix the training settings marked below first');
  const c = counts();
  // only classes with samples get an output: a softmax over classes it never saw would spread probability onto them
  const trainedIdx = classes.map((_, i) => i).filter((i) => c[i] > 0);
  if (trainedIdx.length < 2) throw new Error('label samples for at least two classes first');
  const labels = trainedIdx.map((i) => classes[i]);
  const skippedClasses = classes.filter((_, i) => c[i] === 0);
  const remap = new Map(trainedIdx.map((ci, k) => [ci, k]));
  const useAll = $('useAll').checked;
  const { train: trainSet, held } = splitSamples(trainedIdx, useAll);
  training = true;
  const wasPredicting = predicting;
  const version = sampleVersion;
  await stopPredicting();
  $('train').disabled = true;
  $('extractor').disabled = true;
  let optimizer = null;
  let newHead = false;
  let xs = null;
  let ys = null;
  try {
    const ex = await ensureExtractor($('extractor').value);
    const dim = trainSet[0].feat.length;
    const n = trainSet.length;
    if (head) head.dispose();
    head = null;
    newHead = true;
    evaluation = null;
    head = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [dim], units: 100, activation: 'relu', kernelInitializer: 'varianceScaling', useBias: true }),
        tf.layers.dense({ units: labels.length, activation: 'softmax' }),
      ],
    });
    // our own optimizer instance: the model does not own it, so it is disposed below (its moments are tensors)
    optimizer = tf.train.adam(settings.lr);
    head.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    headMeta = {
      huia: { task: 'classify', classifier: 'image', format: 'layers', source: 'studio gesture trainer' },
      labels: labels.slice(), input: 'features', input_size: ex.spec.input_size,
      normalization: { input: 'RGB 0..255', scale: ex.spec.scale, offset: ex.spec.offset, crop: 'center-square', in_graph: false },
      backbone: { bundled_model: ex.spec.model, feature_node: ex.spec.feature_node, pool: ex.spec.pool,
        feature_dim: dim, landmarks: ex.spec.landmarks },
    };
    batchLosses = [];
    epochLosses = [];
    xs = featureTensor(trainSet);
    ys = tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(trainSet.map((s) => remap.get(s.label))), 'int32'),
      labels.length).toFloat());
    const { epochs } = settings;
    $('heldout').textContent = '';
    $('evalDetail').innerHTML = '';
    $('trainStatus').textContent = `training on ${n} samples (${labels.length} classes)…`;
    await head.fit(xs, ys, {
      epochs, batchSize: settings.batch, shuffle: true,
      callbacks: {
        onBatchEnd: async (batch, logs) => { batchLosses.push(logs.loss); drawLoss(); },
        onEpochEnd: async (epoch, logs) => {
          epochLosses.push(logs.loss);
          $('trainStatus').textContent = `epoch ${epoch + 1}/${epochs} · epoch mean loss ${logs.loss.toFixed(5)} · `
            + `accuracy ${pct(logs.acc)} on the ${n} training samples (not a test)`;
          await tf.nextFrame();
        },
      },
    });
    evaluation = await evaluate(held, labels, remap, n);
    headMeta.evaluation = useAll ? { held_out: 0, trained_on: n }
      : { held_out: evaluation.n, correct: evaluation.correct, trained_on: n,
        split: "each class's latest 20% (at least 1 from 5 samples, none below 5)" };
    trainedVersion = version;
    setHeadButtons(true, true);
    showIdleBadge();
    $('trainStatus').textContent += ' · done';
    showEvaluation(evaluation, useAll, skippedClasses);
    return { epochLosses, batchLosses, evaluation, labels, useAll };
  } catch (e) {
    if (newHead) dropHead('training failed');   // half-trained: not usable
    throw e;
  } finally {
    if (xs) xs.dispose();
    if (ys) ys.dispose();
    if (optimizer) optimizer.dispose();
    training = false;
    $('train').disabled = false;
    $('extractor').disabled = false;
    if (wasPredicting && head) startPredicting();
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

/** The head's output names: the classes it was trained on (or its file's labels), not necessarily every class. */
function headLabels() { return headMeta && Array.isArray(headMeta.labels) ? headMeta.labels.map(String) : classes; }

function showPrediction(p) {
  const labels = headLabels();
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
  lastPrediction = { index: best, label: labels[best], confidence: p[best], probs: Array.from(p) };
  setPredictionText(labels[best] != null ? labels[best] : String(best));
  $('confidence').textContent = `${(100 * p[best]).toFixed(0)}% confident`;
  const bars = $('bars');
  const key = JSON.stringify(labels);
  if (bars.dataset.labels !== key) {
    bars.innerHTML = '';
    bars.dataset.labels = key;
    for (const c of labels) {
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = c;
      name.title = c;   // the whole name when the column cuts it to "…"
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.appendChild(document.createElement('div'));
      const v = document.createElement('span');
      v.className = 'v';
      bars.append(name, bar, v);
    }
  }
  labels.forEach((_, i) => {
    bars.children[3 * i + 1].firstChild.style.width = `${(100 * (p[i] || 0)).toFixed(1)}%`;
    bars.children[3 * i + 2].textContent = `${(100 * (p[i] || 0)).toFixed(0)}%`;
  });
  const shown = classes.indexOf(labels[best]);
  for (const b of $('labels').children) b.classList.toggle('pred', Number(b.dataset.label) === shown);
  return lastPrediction;
}

const PREDICTION_MIN_PX = 24;

/** The predicted class in the big label, shrunk to fit its box when the name is long (a 64 px "hands_chest" is
 * 446 px wide, the box 246 px at 1280x800); below 24 px it wraps instead. Only measured when the text changes. */
function setPredictionText(text) {
  const el = $('prediction');
  if (el.textContent === text && el.dataset.fitWidth === String(el.clientWidth)) return;
  el.textContent = text;
  fitPrediction();
}

function fitPrediction() {
  const el = $('prediction');
  const text = el.textContent;
  el.textContent = text;   // one text node: Chromium still breaks at <wbr> under nowrap
  el.style.fontSize = '';
  el.style.whiteSpace = 'nowrap';   // measure the name on one line
  const full = parseFloat(getComputedStyle(el).fontSize);
  const box = el.clientWidth;
  const need = el.scrollWidth;
  if (box > 0 && need > box) {
    let px = Math.max(PREDICTION_MIN_PX, Math.floor((full * box) / need));
    el.style.fontSize = `${px}px`;
    // widths scale with the font size only nearly linearly (hinting): step down until it fits
    while (px > PREDICTION_MIN_PX && el.scrollWidth > box) el.style.fontSize = `${--px}px`;
  }
  el.style.whiteSpace = '';
  setBreakableText(el, text);   // too long even at the smallest size: it wraps after a _ rather than mid-word
  el.dataset.fitWidth = String(box);
}

async function predictLoop() {
  try {
    while (predicting) {
      if (video.readyState >= 2 && head) {
        const p = await probabilities(video);
        if (!predicting) break;   // stopped while this frame ran: show nothing stale
        showPrediction(p);
        predictFrames += 1;
        fps.tick();
        if (predictFrames % 10 === 0) $('fps').textContent = `${fps.fps.toFixed(1)} FPS`;
      }
      await yieldToBrowser();
    }
  } catch (e) {
    predicting = false;
    $('predict').textContent = 'Start predicting';
    showIdleBadge();
    showError(e);
  }
}

function startPredicting() {
  if (!head) throw new Error('train or load a head first');
  if (!cameraOk) throw new Error('no camera');
  if (predicting) return;
  predicting = true;
  $('predict').textContent = 'Stop predicting';
  $('fps').textContent = 'predicting…';   // FPS once 10 frames are timed
  predictLoopDone = predictLoop();
}

/** Stop the loop; resolves once its last frame is done (so the head/extractor can be disposed safely). */
function stopPredicting() {
  predicting = false;
  $('predict').textContent = 'Start predicting';
  showIdleBadge();
  return predictLoopDone;
}

function clearPrediction() {
  lastPrediction = null;
  setPredictionText('–');
  $('confidence').innerHTML = '&nbsp;';
  $('bars').innerHTML = '';
  delete $('bars').dataset.labels;
  showIdleBadge();
  for (const b of $('labels').children) b.classList.remove('pred');
}

/** The video badge while nothing is predicted: what to do next (it showed a bare "–"). */
function showIdleBadge() {
  $('fps').textContent = head ? 'press Start predicting' : 'train or load a model to predict';
}

function setHeadButtons(canPredict, canSave) {
  $('predict').disabled = !canPredict;
  $('saveIdb').disabled = !canSave;
  $('download').disabled = !canSave;
}

/** Forget the head (after stopPredicting): Predict/Save stay disabled until a new one is trained or loaded. */
function dropHead(why) {
  if (head) head.dispose();
  head = null;
  headMeta = null;
  evaluation = null;
  trainedVersion = -1;
  setHeadButtons(false, false);
  clearPrediction();
  $('trainStatus').textContent = `not trained (${why})`;
  $('heldout').textContent = '';
  $('evalDetail').innerHTML = '';
}

// -- save / load -----------------------------------------------------------------------------------------------------
async function saveHead(url = IDB_KEY) {
  if (!head || !head.save || isPipeline()) throw new Error('only a head trained here can be saved');
  head.setUserDefinedMetadata(headMeta);
  const out = await head.save(url);
  if (trainedVersion >= 0) savedVersion = trainedVersion;   // the samples it learned from are kept in the head
  return out;
}

/** Why a model (its userDefinedMetadata and model.json format) cannot feed this page, or null when it can: a
 * classifier of camera frames, either a layers head on a named bundled extractor's features (what this page saves,
 * and `huia export --format layers` of an image classifier) or a whole image pipeline (`huia export` graph). */
function gestureHeadProblem(meta, format) {
  if (!meta || typeof meta !== 'object' || Object.keys(meta).length === 0) return 'it has no huia metadata (userDefinedMetadata)';
  const h = meta.huia && typeof meta.huia === 'object' ? meta.huia : {};
  const task = h.task || meta.task;
  if (task && task !== 'classify') return `it is ${task === 'detect' ? 'an object detector' : `a ${task} model`}, not a gesture classifier`;
  if (h.classifier && h.classifier !== 'image') {
    return `it is a ${h.classifier} classifier (it reads ${h.classifier === 'keypoints' ? 'body keypoints' : 'drawn skeletons'}, not camera frames)`;
  }
  if (!Array.isArray(meta.labels) || meta.labels.length < 1) return 'its metadata has no labels';
  if (meta.input === 'image') {
    if (format && format !== 'graph-model') return 'an image pipeline must be a graph model';
    return null;
  }
  if (meta.input !== 'features') return `its input is ${JSON.stringify(meta.input)}, neither camera frames nor extractor features`;
  if (format && format !== 'layers-model') return 'a feature head must be a layers model (huia export --format layers)';
  const spec = extractorFromMetadata(meta);
  if (!spec || !spec.feature_node) return 'its metadata does not say which model and node feed the head';
  return null;
}

function specKey(spec) {
  return Object.keys(EXTRACTORS).find((k) => JSON.stringify(EXTRACTORS[k]) === JSON.stringify(spec))
    || `${spec.model}:${spec.feature_node}${spec.landmarks ? ':landmarks' : ''}`;
}

/** Check everything about a loaded model, then (and only then) replace the head, classes and samples. Every refusal
 * disposes what it loaded and leaves the page as it was. */
async function adoptHead(model, meta, from, format) {
  const refuse = (why) => { model.dispose(); throw new Error(`${from}: not a gesture head: ${why}`); };
  const problem = gestureHeadProblem(meta, format);
  if (problem) refuse(problem);
  const labels = meta.labels.map(String);
  const outShape = model.outputs && model.outputs[0] && model.outputs[0].shape;
  const nOut = outShape ? outShape[outShape.length - 1] : null;
  if (nOut != null && nOut > 0 && nOut !== labels.length) refuse(`it has ${nOut} outputs for ${labels.length} labels`);
  let spec = null;
  let key = null;
  let newExtractor = null;
  if (meta.input !== 'image') {
    spec = extractorFromMetadata(meta);
    key = specKey(spec);
    const inShape = model.inputs && model.inputs[0] && model.inputs[0].shape;
    const nIn = inShape ? inShape[inShape.length - 1] : null;
    // the features the named extractor really gives (one probe frame), not what the metadata claims
    let ex = extractor && extractorKey === key ? extractor : null;
    if (!ex) {
      try {
        ex = newExtractor = await createExtractor(tf, spec);
      } catch (e) { refuse(`its feature extractor ${spec.model} (${spec.feature_node}) does not load: ${e.message || e}`); }
    }
    let dim = null;
    try {
      const probe = tf.tidy(() => ex.features(tf.zeros([spec.input_size, spec.input_size, 3])));
      dim = probe.shape[1];
      probe.dispose();
    } catch (e) {
      if (newExtractor) newExtractor.dispose();
      refuse(`${spec.model} has no usable node ${spec.feature_node}: ${e.message || e}`);
    }
    if (nIn !== dim) {
      if (newExtractor) newExtractor.dispose();
      refuse(`the head reads ${nIn} features but ${spec.model} (${spec.feature_node}) gives ${dim}`);
    }
  }
  if (samples.length > 0 && !window.confirm(`Loading ${from} replaces your classes and discards the ${samples.length} samples. Load it?`)) {
    if (newExtractor) newExtractor.dispose();
    model.dispose();
    return null;
  }
  // -- accepted: from here on the page changes
  await stopPredicting();
  if (head) head.dispose();
  head = model;
  headMeta = meta;
  if (newExtractor) {
    if (extractor) extractor.dispose();
    if (!EXTRACTORS[key]) {
      customSpecs[key] = spec;
      if (![...$('extractor').options].some((o) => o.value === key)) {
        const o = document.createElement('option');
        o.value = key;
        o.textContent = `${extractorLabel(spec)} (from ${from})`;
        $('extractor').appendChild(o);
      }
    }
    extractor = newExtractor;
    extractorKey = key;
    setStatus(`${spec.model} · ${tf.getBackend()}`);
  }
  if (key) $('extractor').value = key;
  classes = labels;
  discardSamples();
  savedVersion = sampleVersion;
  trainedVersion = -1;
  evaluation = null;
  $('classNames').value = classes.join(',');
  $('classNamesMsg').textContent = '';
  renderLabels();
  clearPrediction();
  setHeadButtons(true, !isPipeline());
  $('trainStatus').textContent = `loaded ${from}`;
  const ev = meta.evaluation;
  $('heldout').textContent = ev && ev.held_out > 0 && Number.isFinite(ev.correct)
    ? `When it was trained: ${ev.correct} of ${ev.held_out} held-out samples right (${pct(ev.correct / ev.held_out)}).`
    : 'No held-out check is stored with this head.';
  $('evalDetail').innerHTML = '';
  return { labels: classes, input: meta.input || 'features' };
}

function modelName(url) {
  const m = /\/models\/user\/([^/]+)\//.exec(url);
  return m ? m[1] : url;
}

async function loadFromUrl(url) {
  const name = modelName(url);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${name}: HTTP ${res.status} for ${url}`);
  let json;
  try { json = await res.json(); } catch (e) { throw new Error(`${name}: model.json is not valid JSON`); }
  const meta = json.userDefinedMetadata || {};
  // refuse on the metadata before downloading any weights
  const problem = gestureHeadProblem(meta, json.format);
  if (problem) throw new Error(`${name}: not a gesture head: ${problem}`);
  let model;
  try {
    model = json.format === 'graph-model' ? await tf.loadGraphModel(url) : await tf.loadLayersModel(url);
  } catch (e) { throw new Error(`${name}: cannot load the model: ${e.message || e}`); }
  return adoptHead(model, meta, name, json.format);
}

async function loadFromIndexedDB() {
  let model;
  try { model = await tf.loadLayersModel(IDB_KEY); } catch (e) { throw new Error('browser storage: no head saved in this browser yet'); }
  return adoptHead(model, model.getUserDefinedMetadata(), 'browser storage', 'layers-model');
}

async function loadFromFiles(files) {
  const list = Array.from(files);
  const json = list.find((f) => f.name.endsWith('.json'));
  if (!json) throw new Error('choose the model.json and its .bin files');
  let doc;
  try { doc = JSON.parse(await json.text()); } catch (e) { throw new Error(`${json.name}: not valid JSON`); }
  // the weights first: a model.json chosen alone is the commonest slip, and says nothing about its metadata
  const chosen = new Set(list.map((f) => f.name));
  const wanted = (Array.isArray(doc.weightsManifest) ? doc.weightsManifest : [])
    .flatMap((g) => (Array.isArray(g.paths) ? g.paths : [])).map((p) => String(p).split('/').pop());
  const missing = wanted.filter((name) => !chosen.has(name));
  if (missing.length) throw new Error(`${json.name}: choose its weights file${missing.length > 1 ? 's' : ''} too (${missing.join(', ')})`);
  const problem = gestureHeadProblem(doc.userDefinedMetadata || {}, doc.format);
  if (problem) throw new Error(`${json.name}: not a gesture head: ${problem}`);
  let model;
  try {
    model = await tf.loadLayersModel(tf.io.browserFiles([json, ...list.filter((f) => f !== json)]));
  } catch (e) { throw new Error(`${json.name}: cannot load the model: ${e.message || e}`); }
  return adoptHead(model, model.getUserDefinedMetadata(), json.name, 'layers-model');
}

async function listUserModels() {
  try {
    const r = await fetch('/api/models');
    const j = await r.json();
    const sel = $('userModels');
    let skipped = 0;
    for (const m of j.models || []) {
      if (m.source !== 'user') continue;
      if (gestureHeadProblem(m.metadata, m.format)) { skipped += 1; continue; }
      const o = document.createElement('option');
      o.value = m.url; o.textContent = m.name;
      sel.appendChild(o);
    }
    if (skipped) $('modelsHint').textContent = `${skipped} other export${skipped > 1 ? 's are' : ' is'} not a gesture head (not listed)`;
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
  get evaluation() { return evaluation; },
  get headLabels() { return head ? headLabels() : null; },
  /** Every sample as {label (class index), feat (plain array)}, in the order they were taken. */
  samples() { return samples.map((s) => ({ label: s.label, feat: Array.from(s.feat) })); },
  unsavedSamples,
  counts,
  numTensors() { return tf ? tf.memory().numTensors : null; },
  heapMB() { return performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null; },
  setClasses,
  /** n samples of `label` from the webcam, as fast as the extractor runs. */
  async addSamples(label, n) { for (let i = 0; i < n; i++) await addFeature(label, video); updateCounts(); return counts(); },
  addSamplesFromFiles,
  async addSampleFromImage(label, url) { await addFeature(label, await imageFromUrl(url)); updateCounts(); return counts(); },
  async predictImage(url) { return showPrediction(await probabilities(await imageFromUrl(url))); },
  /** Show probabilities `p` (one per head output, or per class with no head) as a predicted frame does. */
  showProbabilities(p) { return showPrediction(Float32Array.from(p)); },
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
  /** As choosing it in the list: asks before discarding samples, drops a feature head. */
  setExtractor(key) { $('extractor').value = key; return onExtractorChange(); },
};

/** Switching the extractor: the samples' features and a feature head belong to the old one. Ask before discarding
 * samples (cancel puts the old choice back); stop predicting and drop the head before the old extractor goes. */
async function onExtractorChange() {
  const sel = $('extractor');
  const key = sel.value;
  if (key === extractorKey) return;
  if (samples.length > 0 && !window.confirm(`Switching the feature extractor discards the ${samples.length} samples `
      + '(their features come from the current one). Switch?')) {
    sel.value = extractorKey;
    return;
  }
  await stopPredicting();
  if (head && !isPipeline()) dropHead('the feature extractor changed: train again');
  discardSamples();
  updateCounts();
  await ensureExtractor(key);
}

async function onApplyClasses() {
  let names;
  try { names = parseClassNames($('classNames').value); } catch (e) { $('classNamesMsg').textContent = e.message; return; }
  $('classNamesMsg').textContent = '';
  if (names.join('\n') === classes.join('\n')) { $('classNames').value = classes.join(','); return; }   // unchanged: keep the samples
  if (samples.length > 0 && !window.confirm(`Setting the classes discards the ${samples.length} samples. Set them?`)) {
    $('classNames').value = classes.join(',');   // cancelled: the field shows the classes the buttons still have
    return;
  }
  await setClasses(names);
}

function onClear() {
  if (samples.length === 0) return;
  if (!window.confirm(`Delete all ${samples.length} samples?`)) return;
  discardSamples();
  updateCounts();
}

async function main() {
  fillDataPaths();
  $('applyClasses').addEventListener('click', guard(onApplyClasses));
  $('classNames').addEventListener('keydown', (e) => { if (e.key === 'Enter') guard(onApplyClasses)(); });
  $('train').addEventListener('click', guard(train));
  $('predict').addEventListener('click', guard(async () => (predicting ? stopPredicting() : startPredicting())));
  $('clear').addEventListener('click', guard(onClear));
  $('extractor').addEventListener('change', guard(onExtractorChange));
  for (const id of ['epochs', 'lr', 'batch']) $(id).addEventListener('input', () => { $(`${id}Msg`).textContent = ''; $(id).removeAttribute('aria-invalid'); });
  $('saveIdb').addEventListener('click', guard(async () => { await saveHead(); $('trainStatus').textContent = 'saved in this browser'; }));
  $('download').addEventListener('click', guard(async () => { await saveHead('downloads://huia-gesture-head'); $('trainStatus').textContent = 'downloaded huia-gesture-head.json + .weights.bin'; }));
  $('loadIdb').addEventListener('click', guard(loadFromIndexedDB));
  $('sampleFiles').addEventListener('change', guard(async () => {
    $('fileMsg').textContent = '';
    try { await addSamplesFromFiles($('sampleFiles').files, Number($('fileClass').value)); } finally { $('sampleFiles').value = ''; }
  }));
  window.addEventListener('resize', () => fitPrediction());   // the box's width changed: refit the class name
  // samples live in this tab only: ask before a reload or close throws away ones no saved head learned from
  window.addEventListener('beforeunload', (e) => {
    if (!unsavedSamples()) return;
    e.preventDefault();
    e.returnValue = '';
  });
  $('files').addEventListener('change', guard(async () => { try { await loadFromFiles($('files').files); } finally { $('files').value = ''; } }));
  $('loadUrl').addEventListener('click', guard(() => $('userModels').value && loadFromUrl($('userModels').value)));
  document.addEventListener('keydown', (e) => {
    if (e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT') return;
    const i = '0123456789'.indexOf(e.key);
    if (i >= 0 && i < classes.length) guard(addSampleFromVideo)(i);
  });
  try { await setClasses($('classNames').value.split(',')); } catch (e) { showError(e); await setClasses(['0', '1']); }
  const listed = listUserModels();
  const params = new URLSearchParams(location.search);
  try {
    tf = await initTF(params.get('backend') || 'wasm');
    await ensureExtractor($('extractor').value);
  } catch (e) { showError(e); setStatus('error'); return; }
  const wanted = params.get('model'); // ?model=/models/user/NAME/model.json (the Capture page's Train link)
  if (wanted) {
    await listed;
    if ([...$('userModels').options].some((o) => o.value === wanted)) $('userModels').value = wanted;
    await guard(loadFromUrl)(wanted);
  }
  try {
    await openCamera(video);
    cameraOk = true;
  } catch (e) {
    showError(`camera: ${e.message || e} — you can still load a head; samples need a camera`);
  }
  window.__huia.ready = true;
}

main();
