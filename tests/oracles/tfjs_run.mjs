// Test oracle: runs a TF.js model in real TF.js (Node, wasm or cpu backend) and writes its outputs.
// Never used by the product. Usage: node tfjs_run.mjs JOB_DIR  (JOB_DIR/job.json written by tfjs_node.py)
//
// Models are loaded through TF.js's own HTTP loader with a fetch function that reads local files, so the
// manifest parsing, shard concatenation and dequantization are exactly what a browser does.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const webDir = process.env.HUIA_WEB_DIR || path.resolve(here, '..', '..', 'web');
const require = createRequire(path.join(webDir, 'package.json'));
const tf = require('@tensorflow/tfjs');

const jobDir = process.argv[2];
const job = JSON.parse(fs.readFileSync(path.join(jobDir, 'job.json'), 'utf8'));

async function setBackend(name) {
  if (name === 'wasm') {
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    if (job.threads) wasm.setThreadsCount(job.threads);
  }
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`cannot set TF.js backend ${name}`);
  await tf.ready();
}

function fetchFunc(url) {
  const p = decodeURIComponent(new URL(url).pathname);
  if (!fs.existsSync(p)) return Promise.resolve(new Response('not found', { status: 404, statusText: 'Not Found' }));
  return Promise.resolve(new Response(fs.readFileSync(p), { status: 200 }));
}

function readArray(spec) {
  const buf = fs.readFileSync(path.join(jobDir, spec.file));
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const arr = spec.dtype === 'int32' ? new Int32Array(ab) : spec.dtype === 'bool' ? new Uint8Array(ab) : new Float32Array(ab);
  return tf.tensor(arr, spec.shape, spec.dtype);
}

async function writeTensor(key, t, meta) {
  const data = await t.data();
  const file = `out_${meta.length}.bin`;
  const typed = t.dtype === 'int32' ? Int32Array.from(data) : t.dtype === 'bool' ? Uint8Array.from(data) : Float32Array.from(data);
  fs.writeFileSync(path.join(jobDir, file), Buffer.from(typed.buffer));
  meta.push({ name: key, file, dtype: t.dtype === 'bool' ? 'bool' : t.dtype === 'int32' ? 'int32' : 'float32', shape: t.shape });
}

async function main() {
  await setBackend(job.backend || 'wasm');
  const url = 'http://oracle.local' + path.resolve(job.model);
  const handler = tf.io.http(url, { fetchFunc });
  const model = job.kind === 'layers' ? await tf.loadLayersModel(handler) : await tf.loadGraphModel(handler);
  const inputs = {};
  for (const spec of job.inputs) inputs[spec.name] = readArray(spec);
  const result = { backend: tf.getBackend(), outputs: [] };

  const runOnce = async () => {
    if (job.kind === 'layers') {
      const x = Object.values(inputs);
      const y = model.predict(x.length === 1 ? x[0] : x);
      return Array.isArray(y) ? y : [y];
    }
    const feed = job.inputs.length === 1 && !job.inputs[0].name ? Object.values(inputs)[0] : inputs;
    const y = await model.executeAsync(feed, job.outputs && job.outputs.length ? job.outputs : undefined);
    return Array.isArray(y) ? y : [y];
  };

  if (job.mode === 'time') {
    const times = [];
    for (let i = 0; i < (job.warmup ?? 3) + job.runs; i++) {
      const t0 = performance.now();
      const ys = await runOnce();
      for (const y of ys) await y.data();
      const dt = performance.now() - t0;
      ys.forEach((y) => y.dispose());
      if (i >= (job.warmup ?? 3)) times.push(dt);
    }
    result.times_ms = times;
  } else if (job.mode === 'train') {
    const x = Object.values(inputs)[0];
    const y = readArray(job.target);
    model.compile({ optimizer: tf.train.adam(job.lr ?? 1e-3), loss: job.loss || 'categoricalCrossentropy' });
    const hist = await model.fit(x, y, { epochs: job.epochs ?? 10, batchSize: job.batchSize ?? 32, shuffle: false, verbose: 0 });
    result.losses = hist.history.loss;
    const ys = [model.predict(x)].flat();
    for (const t of ys) await writeTensor('predictions', t, result.outputs);
  } else {
    const ys = await runOnce();
    const names = job.kind === 'layers' ? model.outputNames : (job.outputs && job.outputs.length ? job.outputs : model.outputNodes);
    for (let i = 0; i < ys.length; i++) await writeTensor(names[i] ?? `output_${i}`, ys[i], result.outputs);
  }
  if (job.kind !== 'layers') result.output_nodes = model.outputNodes;
  result.num_tensors = tf.memory().numTensors;
  fs.writeFileSync(path.join(jobDir, 'result.json'), JSON.stringify(result));
}

main().catch((err) => {
  fs.writeFileSync(path.join(jobDir, 'error.txt'), String(err && err.stack || err));
  process.exit(3);
});
