// Loads the vendored TF.js (no bundler, no CDN) and picks a backend.
//
// TF.js core is imported as an ES module. The wasm backend's ES build imports the bare specifier
// '@tensorflow/tfjs-core' (which a browser cannot resolve without an import map on every page), so
// we load its UMD build instead, handing it a plain-object copy of the core namespace as `tf`.
const TF_URL = '/node_modules/@tensorflow/tfjs/dist/tf.fesm.js';
const WASM_DIR = '/node_modules/@tensorflow/tfjs-backend-wasm/dist/';
const WASM_UMD = WASM_DIR + 'tf-backend-wasm.es2017.min.js';

let corePromise = null;
let wasmPromise = null;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = () => resolve();
    s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.appendChild(s);
  });
}

async function loadCore() {
  if (!corePromise) corePromise = import(TF_URL);
  return corePromise;
}

async function loadWasm(tf) {
  if (!wasmPromise) {
    wasmPromise = (async () => {
      // The UMD factory attaches `.wasm` to globalThis.tf; an ES namespace is frozen, so copy it.
      globalThis.tf = Object.assign({}, tf);
      await loadScript(WASM_UMD);
      const wasm = globalThis.tf.wasm;
      wasm.setWasmPaths(WASM_DIR);
      return wasm;
    })();
  }
  return wasmPromise;
}

/** Import TF.js, register the wasm backend when asked, switch to `backend`, return the tf namespace. */
export async function initTF(backend = 'wasm') {
  const tf = await loadCore();
  if (backend === 'wasm') await loadWasm(tf);
  if (tf.getBackend() !== backend || !tf.engine().backendInstance) {
    const ok = await tf.setBackend(backend);
    if (!ok) throw new Error(`TF.js backend "${backend}" could not be initialised`);
  }
  await tf.ready();
  return tf;
}

/** Load a bundled model served by the studio at /models/builtin/<name>.json. */
export async function loadBuiltinModel(tf, name, { patch } = {}) {
  return loadGraphModel(tf, `/models/builtin/${name}.json`, { patch });
}

/**
 * Load a graph model; `patch(modelJson)` may edit the topology before weights are bound
 * (e.g. PoseNet: free the input size, turn late convolutions atrous for output stride 8).
 * The files are fetched here rather than by tf.loadGraphModel(url) so that a broken model says what is wrong
 * (a missing weight file, a model.json that is not JSON) instead of TF.js's "byte length of Float32Array should
 * be a multiple of 4".
 */
export async function loadGraphModel(tf, url, { patch } = {}) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}${res.status === 404 ? ' (no model there)' : ''}`);
  let json;
  try { json = await res.json(); } catch (e) { throw new Error(`${url}: model.json is not valid JSON`); }
  if (!json || typeof json !== 'object' || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new Error(`${url}: not a TF.js model (no modelTopology or weightsManifest)`);
  }
  if (patch) patch(json);
  const base = url.slice(0, url.lastIndexOf('/') + 1);
  const handler = {
    async load() {
      const specs = [];
      const buffers = [];
      for (const group of json.weightsManifest) {
        for (const p of group.paths) {
          const r = await fetch(base + p);
          if (!r.ok) throw new Error(`${url}: weight file ${p} ${r.status === 404 ? 'is missing' : 'failed'} (HTTP ${r.status})`);
          buffers.push(await r.arrayBuffer());
        }
        specs.push(...group.weights);
      }
      const total = buffers.reduce((n, b) => n + b.byteLength, 0);
      const all = new Uint8Array(total);
      let o = 0;
      for (const b of buffers) { all.set(new Uint8Array(b), o); o += b.byteLength; }
      return {
        modelTopology: json.modelTopology, format: json.format, generatedBy: json.generatedBy,
        convertedBy: json.convertedBy, signature: json.signature, userDefinedMetadata: json.userDefinedMetadata,
        modelInitializer: json.modelInitializer, weightSpecs: specs, weightData: all.buffer,
      };
    },
  };
  return tf.loadGraphModel(handler);
}

let yieldChannel = null;
const yieldQueue = [];
/**
 * Let the browser run events/rendering between frames without setTimeout's 4 ms clamp on chained timers
 * (a MessageChannel task is not clamped), so a back-to-back inference loop stays close to bare model speed.
 */
export function yieldToBrowser() {
  if (!yieldChannel) {
    yieldChannel = new MessageChannel();
    yieldChannel.port1.onmessage = () => { const r = yieldQueue.shift(); if (r) r(); };
  }
  return new Promise((resolve) => { yieldQueue.push(resolve); yieldChannel.port2.postMessage(0); });
}
