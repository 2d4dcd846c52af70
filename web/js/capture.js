// Capture page: webcam -> pose estimator -> skeleton overlay; manual and countdown-timer captures that upload the
// exact frame the model saw plus its keypoints to the studio's capture API; class management; a review grid to
// delete or relabel bad samples; a Train panel (split, train, held-out accuracy, export to the Huia page).
// Query string: ?dataset=NAME&model=movenet-lightning&backend=wasm&interval=2
import { initTF } from './tfjs.js';
import { dataDir } from './datapath.js';
import { openCamera } from './camera.js';
import { drawPoses, FpsMeter } from './draw.js';
import { createOverlay } from './overlay.js';
import { createPoseEstimator, fillPoseModelSelect } from './pose/index.js';
import { selectFromQuery } from './query.js';

const $ = (id) => document.getElementById(id);
const video = $('video');
const overlay = $('overlay');
const painter = createOverlay(overlay);
const grabCanvas = document.createElement('canvas');
const fps = new FpsMeter();
const PAGE_SIZE = 60;

const state = {
  dataset: null,
  classes: [], // [{name, count}]
  active: null,
  tf: null,
  estimator: null,
  modelName: null,
  generation: 0,
  running: false,
  frames: 0,
  lastPoses: [],
  requests: [], // pending capture requests, served by the frame loop
  frameWaiters: [], // resolved with tf.memory().numTensors at the end of the next frame
  captured: 0,
  pending: 0,
  skipped: 0,
  timer: null, // {id, nextAt, taken}
  review: { offset: 0, total: 0, selected: new Set(), checked: false },
  trash: [], // deleted samples of the current dataset ({id, label, deleted, image_url})
  trashedClasses: [], // deleted classes ({id, label, deleted, count})
  cameraOk: false,
};

// -- small helpers ------------------------------------------------------------------------------------------------
function setStatus(t) { $('status').textContent = t; }
function showError(e) {
  const msg = String(e && e.message ? e.message : e);
  console.warn('capture:', msg);
  $('errors').textContent = msg;
}
function clearError() { $('errors').textContent = ''; }
const enc = encodeURIComponent;
const dsUrl = (path = '') => `/api/datasets/${enc(state.dataset)}${path}`;

async function api(method, url, body) {
  const opts = { method, headers: {} };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers['content-type'] = 'application/json'; }
  const r = await fetch(url, opts);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error || `${method} ${url}: HTTP ${r.status}`);
  return data;
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// -- datasets -----------------------------------------------------------------------------------------------------
async function loadDatasets(preferred) {
  let { datasets } = await api('GET', '/api/datasets');
  if (preferred && !datasets.some((d) => d.name === preferred)) {
    await api('POST', '/api/datasets', { name: preferred });
    ({ datasets } = await api('GET', '/api/datasets'));
  }
  if (!datasets.length) {
    await api('POST', '/api/datasets', { name: 'poses' });
    ({ datasets } = await api('GET', '/api/datasets'));
  }
  const sel = $('dataset');
  sel.replaceChildren(...datasets.map((d) => el('option', { value: d.name, text: `${d.name} (${d.total})` })));
  const name = preferred || localStorage.getItem('huia.capture.dataset');
  sel.value = datasets.some((d) => d.name === name) ? name : datasets[0].name;
  await selectDataset(sel.value);
}

async function selectDataset(name) {
  stopTimer();
  state.dataset = name;
  localStorage.setItem('huia.capture.dataset', name);
  $('dataset-path').textContent = `stored in ${state.dataDir || 'DATA/'}datasets/${name}/<class>/ (JPEG + keypoints JSON)`;
  const { other_images: others } = await api('GET', dsUrl());
  if (others) {  // e.g. `huia data augment` written into datasets/: there for the CLI, not captures to review here
    $('dataset-path').textContent += ` · ${others} other image${others === 1 ? ' is' : 's are'} in these folders:`
      + ' not studio captures, so not listed here (the huia commands read them)';
  }
  state.active = null;
  state.review.checked = false;  // another dataset: its own grid, not the last one's flags
  $('check-row').hidden = true;
  showTrash(false);
  await refreshClasses();
  await loadReview(true);
  await refreshTrash();
  await loadJobs();
}

// -- classes ------------------------------------------------------------------------------------------------------
async function refreshClasses() {
  const { classes } = await api('GET', dsUrl('/classes'));
  state.classes = classes;
  if (!classes.some((c) => c.name === state.active)) state.active = classes.length ? classes[0].name : null;
  renderClasses();
  updateDatasetTotal();
}

function renderClasses() {
  const ul = $('classes');
  ul.replaceChildren();
  for (const c of state.classes) {
    const li = el('li', { class: c.name === state.active ? 'active' : '', 'data-class': c.name });
    const name = el('span', { class: 'name', text: c.name, title: c.name });
    const count = el('span', { class: 'count', text: String(c.count) });
    const rename = el('button', { title: `rename ${c.name}`, 'aria-label': `rename ${c.name}`, text: '✎' });
    const del = el('button', { title: `delete ${c.name}`, 'aria-label': `delete ${c.name}`, text: '✕' });
    rename.addEventListener('click', (ev) => { ev.stopPropagation(); startRename(li, c.name); });
    del.addEventListener('click', async (ev) => {
      ev.stopPropagation();
      if (!confirm(`Move class "${c.name}" and its ${c.count} samples to the trash?`)) return;
      if (c.name === state.active) stopTimer(); // never let the timer silently fall through to another class
      try { await api('DELETE', dsUrl(`/classes/${enc(c.name)}`)); await refreshAll(); } catch (e) { showError(e); }
    });
    li.addEventListener('click', () => { state.active = c.name; renderClasses(); });
    li.append(name, count, rename, del);
    ul.append(li);
  }
  $('active-label').textContent = state.active ? `→ ${state.active}` : 'no class: add one';
  $('capture-now').disabled = !state.active || !state.cameraOk;
  $('timer-toggle').disabled = (!state.active || !state.cameraOk) && !state.timer;
  // review filter + "move to" options follow the class list
  const filter = $('review-filter');
  const keep = filter.value;
  filter.replaceChildren(el('option', { value: '', text: 'all classes' }),
    ...state.classes.map((c) => el('option', { value: c.name, text: c.name })));
  filter.value = state.classes.some((c) => c.name === keep) ? keep : '';
  const moveTo = $('move-to');
  const keepMove = moveTo.value;
  moveTo.replaceChildren(...state.classes.map((c) => el('option', { value: c.name, text: `→ ${c.name}` })));
  if (state.classes.some((c) => c.name === keepMove)) moveTo.value = keepMove;
}

function startRename(li, oldName) {
  const input = el('input', { value: oldName, 'aria-label': `new name for ${oldName}` });
  input.style.flex = '1';
  li.querySelector('.name').replaceWith(input);
  input.focus();
  input.select();
  let done = false;
  const finish = async (commit) => {
    if (done) return;
    done = true;
    const newName = input.value.trim();
    if (commit && newName && newName !== oldName) {
      try {
        await api('PATCH', dsUrl(`/classes/${enc(oldName)}`), { name: newName });
        if (state.active === oldName) state.active = newName;
        clearError();
      } catch (e) { showError(e); }
    }
    await refreshAll();
  };
  input.addEventListener('keydown', (ev) => {
    ev.stopPropagation();
    if (ev.key === 'Enter') finish(true);
    if (ev.key === 'Escape') finish(false);
  });
  input.addEventListener('click', (ev) => ev.stopPropagation());
  input.addEventListener('blur', () => finish(true));
}

async function addClass() {
  const input = $('new-class');
  const name = input.value.trim();
  if (!name) { showError('type a class name first (it cannot be empty or only spaces)'); return; }
  try {
    await api('POST', dsUrl('/classes'), { name });
    input.value = '';
    state.active = name;
    clearError();
    await refreshClasses();
  } catch (e) { showError(e); }
}

async function refreshAll() {
  await refreshClasses();
  await loadReview(true);
  await refreshTrash();
}

// -- trash: restore deleted samples -----------------------------------------------------------------------------------
async function refreshTrash() {
  if (!state.dataset) return;
  try {
    const { samples, classes } = await api('GET', dsUrl('/trash'));
    state.trash = samples;
    state.trashedClasses = classes;
  } catch (e) { showError(e); return; }
  const n = state.trash.length + state.trashedClasses.length;
  $('restore-deleted').textContent = `Restore deleted (${n})`;
  $('restore-deleted').disabled = n === 0;
  if (!n) showTrash(false);
  else if (!$('trash').hidden) renderTrash();
}

function renderTrash() {
  const classes = state.trashedClasses.map((c) => el('figure',
    { 'data-class-id': c.id, 'data-label': c.label, class: 'trashed-class' },
    el('div', { class: 'small', style: 'padding: 22px 8px; text-align: center',
      text: `class “${c.label}” · ${c.count} sample${c.count === 1 ? '' : 's'}` }),
    el('button', { class: 'del', title: 'restore the class', 'aria-label': `restore class ${c.label}`, text: '↺',
      onclick: () => restoreSamples(`/trash/classes/${enc(c.id)}/restore`) })));
  $('trash-grid').replaceChildren(...classes, ...state.trash.map((t) => el('figure', { 'data-id': t.id, 'data-label': t.label },
    el('img', { src: t.image_url, alt: `deleted ${t.label} sample`, loading: 'lazy' }),
    el('button', { class: 'del', title: 'restore', 'aria-label': `restore sample ${t.id}`, text: '↺',
      onclick: () => restoreSamples(`/trash/${enc(t.id)}/restore`) }),
    el('figcaption', {}, el('span', { text: t.label }), el('span', { text: 'deleted' })))));
}

function showTrash(on) {
  $('trash').hidden = !on;
  $('restore-deleted').setAttribute('aria-expanded', String(on));
  if (on) renderTrash();
}

async function restoreSamples(path) {
  try {
    await api('POST', dsUrl(path));
    clearError();
  } catch (e) { showError(e); }
  await refreshAll();
}

function bumpCount(label, delta) {
  const c = state.classes.find((x) => x.name === label);
  if (c) c.count += delta;
  const li = [...$('classes').children].find((x) => x.dataset.class === label);
  if (li && c) li.querySelector('.count').textContent = String(c.count);
  updateDatasetTotal();
}

function updateDatasetTotal() {
  const opt = [...$('dataset').options].find((o) => o.value === state.dataset);
  if (opt) opt.textContent = `${state.dataset} (${state.classes.reduce((n, c) => n + c.count, 0)})`;
}

// -- pose model + frame loop ------------------------------------------------------------------------------------------
async function configure() {
  const gen = ++state.generation;
  state.running = false;
  const model = $('model').value;
  const backend = $('backend').value;
  setStatus(`loading ${model} on ${backend}…`);
  try {
    if (state.estimator) { state.estimator.dispose(); state.estimator = null; }
    state.tf = await initTF(backend);
    const est = await createPoseEstimator(state.tf, { model });
    if (gen !== state.generation) { est.dispose(); return; }
    state.estimator = est;
    state.modelName = est.name || model;
    setStatus(`${state.modelName} · ${state.tf.getBackend()}`);
    state.running = true;
    loop(gen);
  } catch (e) {
    showError(e);
    setStatus('pose model failed');
  }
}

const nextTask = () => new Promise((r) => setTimeout(r, 0));

async function loop(gen) {
  while (state.running && gen === state.generation) {
    if (video.readyState < 2 || !video.videoWidth) { await nextTask(); continue; }
    const req = state.requests.shift();
    let poses;
    try {
      if (req) {
        // capture: the stored JPEG and the stored keypoints come from the very same pixels
        grabCanvas.width = video.videoWidth;
        grabCanvas.height = video.videoHeight;
        grabCanvas.getContext('2d').drawImage(video, 0, 0);
        poses = await state.estimator.estimate(grabCanvas, { timestamp: video.currentTime * 1000 });
        await handleCapture(req, poses);
      } else {
        poses = await state.estimator.estimate(video);
      }
    } catch (e) {
      if (req) req.reject(e);
      showError(e);
      await nextTask();
      continue;
    }
    if (gen !== state.generation) break;
    state.frames += 1;
    state.lastPoses = poses;
    painter.draw({ width: video.videoWidth, height: video.videoHeight, poses,
      poseOptions: { lineWidth: Math.max(2, video.videoWidth / 160) } });
    fps.tick();
    // between two frames no tensor of the pipeline is alive: the right moment to count them
    for (const w of state.frameWaiters.splice(0)) w(state.tf.memory().numTensors);
    if (state.frames % 10 === 0) {
      $('fps').textContent = `${fps.fps.toFixed(1)} FPS`;
      $('pose-score').textContent = poses.length ? poses[0].score.toFixed(2) : 'none';
    }
    await nextTask();
  }
}

function requestCapture(source) {
  return new Promise((resolve, reject) => {
    if (!state.active) { reject(new Error('add or pick a class first')); return; }
    if (!state.running) { reject(new Error('the camera or the pose model is not running')); return; }
    state.requests.push({ source, label: state.active, dataset: state.dataset, resolve, reject });
  });
}

function toJpeg(canvas) {
  return new Promise((resolve, reject) => canvas.toBlob(
    (b) => (b ? resolve(b) : reject(new Error('could not encode the frame'))), 'image/jpeg', 0.92));
}

function flash() {
  const f = $('flash');
  f.classList.add('on');
  requestAnimationFrame(() => requestAnimationFrame(() => f.classList.remove('on')));
}

async function handleCapture(req, poses) {
  const pose = poses[0] || null;
  const minScore = Number($('min-pose-score').value);
  if (req.source === 'timer' && $('require-person').checked && (!pose || pose.score < minScore)) {
    state.skipped += 1;
    updateStats();
    req.resolve({ skipped: true });
    return;
  }
  const blob = await toJpeg(grabCanvas);
  flash();
  const form = new FormData();
  form.append('image', blob, 'frame.jpg');
  form.append('label', req.label);
  form.append('model', state.modelName || '');
  if (pose) {
    form.append('keypoints', JSON.stringify({
      score: pose.score,
      keypoints: pose.keypoints.map((k) => ({ name: k.name, x: k.x, y: k.y, score: k.score })),
    }));
  }
  // upload in the background: the frame loop keeps running while the server fsyncs
  state.pending += 1;
  updateStats();
  api('POST', `/api/datasets/${enc(req.dataset)}/samples`, form).then((info) => {
    state.captured += 1;
    if (req.dataset === state.dataset) {
      bumpCount(info.label, +1);
      prependToReview(info);
    }
    req.resolve(info);
  }, (e) => {
    showError(`capture not saved: ${e.message}`);
    req.reject(e);
  }).finally(() => { state.pending -= 1; updateStats(); });
}

function updateStats() {
  $('capture-stats').textContent = `${state.captured} captured this session`;
  $('pending').textContent = `${state.pending} uploading`;
  $('skipped').textContent = `${state.skipped} skipped (no person)`;
}

// -- countdown timer --------------------------------------------------------------------------------------------------
function intervalMs() { return Math.max(200, 1000 * Number($('interval').value || 2)); }

function startTimer() {
  if (state.timer) return;
  if (!state.active) { showError('add or pick a class first'); return; }
  state.timer = { nextAt: performance.now() + intervalMs(), taken: 0 };
  state.timer.id = setInterval(tickTimer, 50);
  $('timer-toggle').textContent = 'Stop timer';
  $('timer-toggle').classList.add('primary');
  tickTimer();
}

function stopTimer() {
  if (!state.timer) return;
  clearInterval(state.timer.id);
  // a timer capture still waiting for a frame is dropped: nothing is stored after "Stop"
  for (const r of state.requests.filter((x) => x.source === 'timer')) r.resolve({ cancelled: true });
  state.requests = state.requests.filter((x) => x.source !== 'timer');
  state.timer = null;
  $('countdown').textContent = '';
  $('timer-toggle').textContent = 'Start timer';
  $('timer-toggle').classList.remove('primary');
}

function tickTimer() {
  const t = state.timer;
  if (!t) return;
  const now = performance.now();
  const left = t.nextAt - now;
  $('countdown').textContent = left > 0 && intervalMs() >= 1000 ? String(Math.ceil(left / 1000)) : '';
  if (left > 0 || t.inflight) return; // one timer capture at a time: "stop after N" is exact
  t.nextAt = now + intervalMs();
  t.inflight = true;
  requestCapture('timer').then((r) => {
    if (!r || r.skipped || r.cancelled) return;
    t.taken += 1;
    const stopAfter = Number($('stop-after').value || 0);
    if (stopAfter > 0 && t.taken >= stopAfter && state.timer === t) stopTimer();
  }, () => {}).finally(() => { t.inflight = false; });
}

// -- review grid --------------------------------------------------------------------------------------------------------
function reviewQuery() {
  const q = new URLSearchParams({ offset: String(state.review.offset), limit: String(PAGE_SIZE) });
  if ($('review-filter').value) q.set('label', $('review-filter').value);
  if ($('only-nopose').checked) q.set('has_keypoints', 'false');
  return q;
}

const THUMB_WIDTH = 240;

/** Draw the stored frame and, when it has one, the stored skeleton: what the model will be trained on. */
async function renderThumb(canvas, s) {
  const img = new Image();
  img.src = s.image_url;
  await img.decode();
  const scale = THUMB_WIDTH / img.naturalWidth;
  canvas.width = THUMB_WIDTH;
  canvas.height = Math.round(img.naturalHeight * scale);
  const c = canvas.getContext('2d');
  c.drawImage(img, 0, 0, canvas.width, canvas.height);
  if (s.has_keypoints) {
    const meta = await api('GET', dsUrl(`/samples/${s.id}/meta`));
    if (meta.keypoints) drawPoses(c, [{ score: meta.score, keypoints: meta.keypoints }], { lineWidth: 2, radius: 2, scale });
  }
  canvas.dataset.rendered = '1';
}

const thumbObserver = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    thumbObserver.unobserve(e.target);
    renderThumb(e.target, e.target.sample).catch((err) => console.warn('thumbnail', err));
  }
}, { rootMargin: '2000px 0px' }); // generous: the grid sits below the stage

function figureFor(s) {
  const fig = el('figure', { 'data-id': s.id, 'data-label': s.label, class: s.has_keypoints ? '' : 'nopose' });
  const img = el('canvas', { class: 'thumb', role: 'img', 'aria-label': `${s.label} sample` });
  img.sample = s;
  thumbObserver.observe(img);
  const del = el('button', { class: 'del', title: 'move to trash', 'aria-label': `delete sample ${s.id}`, text: '×' });
  del.addEventListener('click', async (ev) => {
    ev.stopPropagation();
    try {
      await api('DELETE', dsUrl(`/samples/${s.id}`));
      fig.remove();
      state.review.selected.delete(s.id);
      state.review.total -= 1;
      state.review.offset -= 1;
      bumpCount(s.label, -1);
      updateReviewHeader();
      await refreshTrash();
    } catch (e) { showError(e); }
  });
  fig.addEventListener('click', () => {
    const sel = state.review.selected;
    if (sel.has(s.id)) sel.delete(s.id); else sel.add(s.id);
    fig.classList.toggle('selected', sel.has(s.id));
    updateReviewHeader();
  });
  const cap = el('figcaption', {}, el('span', { text: s.label }), el('span', { text: s.has_keypoints ? '' : 'no person' }));
  fig.append(img, del, cap);
  return fig;
}

async function loadReview(reset) {
  if (!state.dataset) return;
  if (state.review.checked && reset) {  // after a delete or move in the check's view: check again
    await checkForProblems();
    return;
  }
  if (reset) {
    state.review.offset = 0;
    state.review.selected.clear();
    $('grid').replaceChildren();
  }
  try {
    const page = await api('GET', `${dsUrl('/samples')}?${reviewQuery()}`);
    state.review.total = page.total;
    state.review.offset += page.samples.length;
    $('grid').append(...page.samples.map(figureFor));
    updateReviewHeader();
  } catch (e) { showError(e); }
}

function prependToReview(s) {
  if (state.review.checked) return;  // the grid shows the check's flags; a new capture is not one of them
  const f = $('review-filter').value;
  if ((f && f !== s.label) || ($('only-nopose').checked && s.has_keypoints)) return;
  $('grid').prepend(figureFor(s));
  state.review.total += 1;
  state.review.offset += 1;
  updateReviewHeader();
}

function updateReviewHeader() {
  const shown = $('grid').children.length;
  const n = state.review.selected.size;
  $('review-count').textContent = state.review.total === 0
    ? ($('review-filter').value || $('only-nopose').checked ? 'no samples match the filter' : 'no samples yet: capture some above')
    : `${shown} of ${state.review.total} shown${n ? ` · ${n} selected` : ''}`;
  $('load-more').hidden = state.review.checked || shown >= state.review.total;
  $('delete-selected').disabled = n === 0;
  $('move-selected').disabled = n === 0 || !$('move-to').value;
}

async function deleteSelected() {
  const ids = [...state.review.selected];
  try {
    for (const id of ids) await api('DELETE', dsUrl(`/samples/${id}`));
  } catch (e) { showError(e); }
  await refreshAll();
}

async function moveSelected() {
  const label = $('move-to').value;
  const ids = [...state.review.selected];
  try {
    for (const id of ids) await api('PATCH', dsUrl(`/samples/${id}`), { label });
  } catch (e) { showError(e); }
  await refreshAll();
}

// -- check: `huia data review` on the dataset, its flagged samples shown in the grid with the reason -------------------
const FLAG_WORDS = { blank: 'blank', duplicate: 'duplicate', near_duplicate: 'near duplicate', no_pose: 'no person',
  low_pose: 'weak pose', mislabeled: 'label?', unreadable: 'unreadable' };

async function checkForProblems() {
  const btn = $('check-review');
  btn.disabled = true;
  $('check-row').hidden = false;
  $('check-summary').textContent = 'checking…';
  try {
    const r = await api('GET', dsUrl('/review'));
    state.review.checked = true;
    state.review.selected.clear();
    const figs = r.flagged.map((f) => { // one thumbnail per sample, with every reason it was flagged
      const fig = figureFor(f.sample);
      const kinds = f.flags.map((x) => x.kind);
      fig.classList.add('flagged');
      fig.dataset.flag = kinds.join(' ');
      fig.title = f.flags.map((x) => x.detail).join('\n');
      fig.querySelector('figcaption').append(el('span', { class: 'flag',
        text: kinds.map((k) => FLAG_WORDS[k] || k).join(', ') }));
      return fig;
    });
    $('grid').replaceChildren(...figs);
    state.review.total = figs.length;
    state.review.offset = figs.length;
    const counts = Object.entries(r.counts).map(([k, n]) => `${n} ${FLAG_WORDS[k] || k}`).join(', ');
    const space = r.feature_space ? ` (labels compared in ${r.feature_space} space)`
      : r.mislabel_note ? ` (${r.mislabel_note})` : '';
    $('check-summary').textContent = r.flagged.length
      ? `${r.flagged.length} of ${r.samples} samples flagged: ${counts}${space}. Hover one for why; delete or move`
        + ' what you agree with (near duplicates are fine to keep).'
      : `nothing flagged in ${r.samples} samples${space}.`;
    $('check-select').hidden = r.flagged.length === 0;
    updateReviewHeader();
  } catch (e) {
    $('check-summary').textContent = '';
    showError(e);
  } finally { btn.disabled = false; }
}

function selectFlagged() {
  for (const fig of $('grid').querySelectorAll('figure.flagged')) {
    if (fig.dataset.flag === 'near_duplicate') continue; // flagged only as a near twin: a valid sample
    state.review.selected.add(fig.dataset.id);
    fig.classList.add('selected');
  }
  updateReviewHeader();
}

function clearCheck() {
  state.review.checked = false;
  $('check-row').hidden = true;
  loadReview(true);
}

function selectNoPose() {
  for (const fig of $('grid').querySelectorAll('figure.nopose')) {
    state.review.selected.add(fig.dataset.id);
    fig.classList.add('selected');
  }
  updateReviewHeader();
}

// -- train: split -> train -> held-out accuracy -> export, as a server job polled here ------------------------------------
// The server runs `huia data split` / `classify train` / `classify eval` / `export` in a child process
// (src/huia/server/jobs.py); this panel starts it, shows its stage and ETA, and shows the held-out result.
// shares of the bar, in the order the work happens (image/skeleton exports quantize a backbone: seconds)
const STAGE_SPAN = { split: [0, 0.05], train: [0.05, 0.75], eval: [0.75, 0.8], export: [0.8, 1] };
const TRAIN_PHASE_SPAN = {
  'features (train)': [0, 0.3], 'features (validation)': [0.3, 0.35], head: [0.35, 0.7],
  'features (validation views)': [0.7, 0.8], refit: [0.8, 0.95], finetune: [0.95, 1],
};
const train = { job: null, timer: null, phaseKey: null, phaseT0: 0, phaseStep0: 0, barJob: null, bar: 0, fails: 0 };

function trainError(msg) { $('train-error').textContent = msg ? String(msg) : ''; }

async function suggestExportName(knownJobs) {
  // prefilled: DATASET-TASK, numbered past the exports that exist and the names jobs took (running, or left a run);
  // `knownJobs`: the job list when the caller has just fetched it
  const base = `${state.dataset}-${$('train-task').value}`.replace(/[^\w .+-]/g, '_').slice(0, 60).trim();
  let taken = new Set();
  try {
    const [{ models }, { jobs }] = await Promise.all([api('GET', '/api/models'),
      knownJobs ? { jobs: knownJobs } : api('GET', '/api/jobs')]);
    taken = new Set([...(models || []).filter((m) => m.source === 'user').map((m) => m.name),
      ...(jobs || []).filter((j) => j.status !== 'cancelled').map((j) => j.name)]);
  } catch (e) { /* the name is checked by the server anyway */ }
  let name = base;
  for (let i = 2; taken.has(name); i += 1) name = `${base}-${i}`;
  $('train-name').value = name;
}

async function startTraining() {
  trainError('');
  const body = { name: $('train-name').value.trim(), task: $('train-task').value, split: $('train-split').value };
  const epochs = $('train-epochs').value.trim();
  if (epochs !== '') {
    const n = Number(epochs);
    if (!Number.isInteger(n) || n < 1 || n > 10000) {
      trainError(`max epochs must be a whole number from 1 to 10000, not "${epochs}"`);
      return;
    }
    body.epochs = n;
  }
  const q = $('train-quantize').value;
  body.quantize = q === 'float32' ? null : q;
  try {
    const job = await api('POST', dsUrl('/train'), body);
    showJob(job);
    pollJob(job.id);
  } catch (e) { trainError(e.message); }
}

async function cancelTraining() {
  if (!train.job) return;
  const id = train.job.id;
  try { showJob(await api('DELETE', `/api/jobs/${enc(id)}`)); } catch (e) {
    trainError(e.message);
    try { showJob(await api('GET', `/api/jobs/${enc(id)}`)); } catch (e2) { /* the poll keeps trying */ }
  }
}

function pollJob(id) {
  clearTimeout(train.timer);
  train.fails = 0;
  const tick = async () => {
    let job;
    try {
      job = await api('GET', `/api/jobs/${enc(id)}`);
    } catch (e) {
      // a restarting studio or a dropped connection: say so, keep asking (backing off), pick the job up again
      if (!train.job || train.job.id !== id) return;
      if (/^no job /.test(e.message)) { trainError(e.message); return; } // (a studio with another data folder)
      train.fails += 1;
      trainError(`${e.message} (asking the studio again)`);
      train.timer = setTimeout(tick, Math.min(10000, 500 * 2 ** train.fails));
      return;
    }
    if (!train.job || train.job.id !== id) return; // another dataset's job replaced it meanwhile
    train.fails = 0;
    showJob(job);
    if (job.status === 'queued' || job.status === 'running') train.timer = setTimeout(tick, 500);
  };
  train.timer = setTimeout(tick, 300);
}

function fmtSeconds(s) {
  if (!Number.isFinite(s)) return '–';
  const r = Math.max(0, Math.round(s));
  return r < 90 ? `${r} s` : `${Math.floor(r / 60)} min ${r % 60} s`;
}

/** Progress 0..1 and the ETA of the current phase (from its own step rate; the head phase's total is the epoch cap
 * early stopping usually cuts short, so its ETA is an upper bound). */
function jobProgress(job) {
  let [lo, hi] = STAGE_SPAN[job.stage] || [0, 0];
  const p = job.progress || {};
  if (job.stage === 'train' && p.phase) { // its phases: features, head epochs, more features, the refit
    const [a, b] = TRAIN_PHASE_SPAN[p.phase] || [0, 1];
    [lo, hi] = [lo + (hi - lo) * a, lo + (hi - lo) * b];
  }
  const frac = p.total > 0 ? Math.min(1, p.step / p.total) : 0;
  const key = `${job.id}/${job.stage}/${p.phase}`;
  const now = performance.now() / 1000;
  if (key !== train.phaseKey) { train.phaseKey = key; train.phaseT0 = now; train.phaseStep0 = p.step || 0; }
  const done = (p.step || 0) - train.phaseStep0;
  const rate = done > 0 ? done / (now - train.phaseT0) : 0;
  const eta = rate > 0 && p.total > 0 ? (p.total - p.step) / rate : NaN;
  // never backwards (early stopping ends the head phase before its cap; a phase may be skipped)
  if (train.barJob !== job.id) { train.barJob = job.id; train.bar = 0; }
  train.bar = Math.max(train.bar, lo + (hi - lo) * frac);
  return { value: train.bar, eta, upper: p.phase === 'head' };
}

function showJob(job) {
  train.job = job;
  const active = job.status === 'queued' || job.status === 'running';
  $('train-start').disabled = active;
  $('train-cancel').hidden = !active;
  $('train-progress-row').hidden = false;
  const p = job.progress || {};
  if (active) {
    const { value, eta, upper } = jobProgress(job);
    $('train-progress').value = value;
    const step = p.total > 0 ? ` ${p.step}/${p.total}` : '';
    const phase = p.phase && p.phase !== job.stage ? ` · ${p.phase}${step}` : step;
    const left = Number.isFinite(eta) ? ` · ${upper ? 'at most ' : 'about '}${fmtSeconds(eta)} left in this step` : '';
    $('train-status').textContent = `${job.status} · ${job.stage || 'starting'}${phase} · ${fmtSeconds(job.elapsed)}${left}`;
  } else {
    $('train-progress').value = job.status === 'done' ? 1 : 0;
    const what = job.status === 'done' ? `done in ${fmtSeconds(job.elapsed)}`
      : `${job.status}${job.stage ? ` during ${job.stage}` : ''} after ${fmtSeconds(job.elapsed)}`;
    $('train-status').textContent = `${job.name} (${job.task}): ${what}`;
  }
  trainError(job.status === 'failed' ? job.error : '');
  if (job.status === 'done' && job.result) showResult(job);
  else $('train-result').hidden = true;
  if (job.status === 'done' && train.shownDone !== job.id) {
    train.shownDone = job.id;
    suggestExportName(); // the next run gets a fresh name
  }
}

function showResult(job) {
  const r = job.result;
  const pct = (x) => `${(100 * x).toFixed(1)} %`;
  $('train-accuracy').textContent = `held-out accuracy ${pct(r.accuracy)} (95 % interval ${pct(r.accuracy_ci[0])}`
    + ` – ${pct(r.accuracy_ci[1])}) on n = ${r.n} held-out samples`;
  $('train-accuracy').dataset.accuracy = String(r.accuracy);
  $('train-accuracy').dataset.n = String(r.n);
  const heldOut = r.split === 'time' ? 'the latest captures of each class' : 'a seeded random share of each class';
  $('train-accuracy-note').textContent = `trained on ${r.train_samples} samples; held out: ${heldOut}, never seen`
    + ` in training (${r.accuracy_ci_method} interval)`
    + (r.split === 'time' ? '' : '; frames captured a second apart may sit on both sides, which flatters the accuracy')
    + '. The held-out captures are from the same person, room and session: expect less with other people or light.';
  const ex = r.export_check;  // the exported model (quantized weights) on the same held-out samples
  const runsOn = job.task === 'image' ? 'the Gestures page' : 'the Huia page';
  $('train-export-check').textContent = ex ? `The exported model (${ex.quantization === 'float32' ? 'float32'
    : `${ex.quantization} weights`}), as ${runsOn} runs`
    + ` it: ${pct(ex.accuracy)} on the same samples; it gives the trained model's answer on`
    + ` ${pct(ex.agreement_with_run)} of them.` : '';
  const head = (cells) => el('tr', {}, ...cells.map((c) => el('th', { text: c })));
  $('train-per-class').replaceChildren(el('caption', { text: 'per class' }), head(['class', 'accuracy', 'n']),
    ...r.labels.map((l) => el('tr', { 'data-class': l }, el('th', { text: l }),
      el('td', { text: pct(r.per_class[l].accuracy) }), el('td', { text: String(r.per_class[l].n) }))));
  $('train-confusion').replaceChildren(el('caption', { text: 'confusion (rows: true class, columns: predicted)' }),
    head(['', ...r.labels]),
    ...r.confusion.map((row, i) => el('tr', {}, el('th', { text: r.labels[i] }),
      ...row.map((v, j) => el('td', { class: i === j ? 'hit' : '', text: String(v) })))));
  if (r.curves_url) {
    $('train-curves').src = r.curves_url;
    $('train-curves-fig').hidden = false;
  } else $('train-curves-fig').hidden = true;
  const link = $('train-open-huia');
  if (job.task === 'image') { // camera frames, not a pose: the Gestures page runs it (the bird needs a pose model)
    link.href = `/gestures.html?model=${enc(r.export_url)}`;
    link.textContent = `Open the Gestures page with “${r.export}” →`;
  } else {
    link.href = `/huia.html?classifier=${enc(r.export_url)}`;
    link.textContent = `Open the Huia page with “${r.export}” →`;
  }
  $('train-where').textContent = ` · model in ${state.dataDir || 'DATA/'}exports/${r.export}, run in ${r.run}`;
  $('train-result').hidden = false;
}

/** On opening a dataset: its newest job (a running one is followed again after a reload). */
async function loadJobs() {
  clearTimeout(train.timer);
  train.job = null;
  $('train-progress-row').hidden = true;
  $('train-result').hidden = true;
  $('train-start').disabled = false;
  $('train-cancel').hidden = true;
  trainError('');
  try {
    const { jobs } = await api('GET', '/api/jobs');
    await suggestExportName(jobs);
    const running = jobs.find((j) => j.status === 'queued' || j.status === 'running');
    const mine = jobs.find((j) => j.dataset === state.dataset);
    const job = running && running.dataset === state.dataset ? running : mine;
    if (running && running.dataset !== state.dataset) {
      $('train-start').title = `a job is training ${running.name} on dataset ${running.dataset}`;
    }
    if (job) {
      if (job.status !== 'queued' && job.status !== 'running') train.shownDone = job.id;
      showJob(job);
      if (job.status === 'queued' || job.status === 'running') pollJob(job.id);
    }
  } catch (e) {
    trainError(e.message);
    await suggestExportName([]); // (the name is checked by the server anyway)
  }
}

// -- test / automation hook ---------------------------------------------------------------------------------------------
window.__huia = {
  page: 'capture',
  ready: false,
  get frames() { return state.frames; },
  get fps() { return fps.fps; },
  get poses() { return state.lastPoses; },
  get captured() { return state.captured; },
  get pending() { return state.pending; },
  get skipped() { return state.skipped; },
  get dataset() { return state.dataset; },
  get activeClass() { return state.active; },
  get backend() { return state.tf ? state.tf.getBackend() : null; },
  get model() { return state.modelName; },
  get timerRunning() { return !!state.timer; },
  /** The training job the Train panel shows, as last polled (GET /api/jobs/{id}), or null. */
  get trainJob() { return train.job; },
  /** Deleted samples of the current dataset as last listed ({id, label, deleted, image_url}). */
  get trash() { return (state.trash || []).slice(); },
  /** Deleted classes of the current dataset as last listed ({id, label, deleted, count}). */
  get trashedClasses() { return state.trashedClasses.slice(); },
  numTensors() { return state.tf ? state.tf.memory().numTensors : null; },
  /** numTensors measured by the frame loop between two frames (no frame's tensors in flight). */
  tensorsBetweenFrames() { return new Promise((r) => state.frameWaiters.push(r)); },
  /** Capture the next frame into the active class; resolves with the server's sample info. */
  capture() { return requestCapture('manual'); },
  startTimer(seconds) { if (seconds) $('interval').value = String(seconds); startTimer(); },
  stopTimer,
  async waitFrames(n) { const t = state.frames + n; while (state.frames < t) await new Promise((r) => setTimeout(r, 20)); return state.frames; },
};

/** Keep the whole stage plus the capture buttons in view: cap the stage width by the window height. */
function fitStage() {
  if (!video.videoWidth) return;
  const maxH = Math.max(240, window.innerHeight * 0.62);
  $('stage').style.maxWidth = `${Math.round(maxH * video.videoWidth / video.videoHeight)}px`;
}

// -- wiring -------------------------------------------------------------------------------------------------------------
async function main() {
  fillPoseModelSelect($('model'));
  const q = new URLSearchParams(location.search);
  state.dataDir = await dataDir(); // the real data folder for the "stored in" hint (null: it keeps DATA/)
  const notices = [selectFromQuery($('model'), q.get('model'), 'model'),
    selectFromQuery($('backend'), q.get('backend'), 'backend')].filter(Boolean);
  if (q.has('interval')) $('interval').value = q.get('interval');
  $('mirror').addEventListener('change', () => $('stage').classList.toggle('mirror', $('mirror').checked));
  $('add-class').addEventListener('click', addClass);
  $('new-class').addEventListener('keydown', (ev) => { if (ev.key === 'Enter') addClass(); });
  $('add-dataset').addEventListener('click', async () => {
    const name = $('new-dataset').value.trim();
    if (!name) { showError('type a dataset name first (it cannot be empty or only spaces)'); return; }
    try { await loadDatasets(name); $('new-dataset').value = ''; clearError(); } catch (e) { showError(e); }
  });
  $('dataset').addEventListener('change', () => selectDataset($('dataset').value).catch(showError));
  // files moved by hand or by `huia data review --quarantine` while the tab was away: the server re-scans on
  // listing, so coming back to the tab is enough to drop (or bring back) their thumbnails
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && state.dataset) refreshAll().catch(showError);
  });
  $('capture-now').addEventListener('click', () => requestCapture('manual').catch(showError));
  $('timer-toggle').addEventListener('click', () => (state.timer ? stopTimer() : startTimer()));
  $('review-filter').addEventListener('change', () => loadReview(true));
  $('check-review').addEventListener('click', checkForProblems);
  $('check-select').addEventListener('click', selectFlagged);
  $('check-clear').addEventListener('click', clearCheck);
  $('only-nopose').addEventListener('change', () => loadReview(true));
  $('load-more').addEventListener('click', () => loadReview(false));
  $('delete-selected').addEventListener('click', deleteSelected);
  $('move-selected').addEventListener('click', moveSelected);
  $('move-to').addEventListener('change', updateReviewHeader);
  $('select-nopose').addEventListener('click', selectNoPose);
  $('restore-deleted').addEventListener('click', () => showTrash($('trash').hidden));
  $('restore-all').addEventListener('click', () => restoreSamples('/trash/restore'));
  $('model').addEventListener('change', configure);
  $('backend').addEventListener('change', configure);
  $('train-start').addEventListener('click', startTraining);
  $('train-cancel').addEventListener('click', cancelTraining);
  $('train-task').addEventListener('change', () => { if (!train.job || train.job.status !== 'running') suggestExportName(); });
  document.addEventListener('keydown', (ev) => {
    if (ev.code === 'Space' && !['INPUT', 'SELECT', 'TEXTAREA', 'BUTTON'].includes(document.activeElement.tagName)) {
      ev.preventDefault();
      requestCapture('manual').catch(showError);
    }
  });

  try {
    await loadDatasets(q.get('dataset'));
  } catch (e) { showError(`capture API: ${e.message}`); }
  try {
    await openCamera(video);
    state.cameraOk = true;
    renderClasses();
    fitStage();
    window.addEventListener('resize', fitStage);
  } catch (e) {
    showError(`camera: ${e.message || e} — you can still review and clean the dataset`);
    setStatus('no camera');
    window.__huia.ready = true;
    return;
  }
  await configure();
  if (notices.length) showError(notices.join('; '));
  window.__huia.ready = true;
}

main();
