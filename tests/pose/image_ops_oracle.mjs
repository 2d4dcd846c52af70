// Test oracle for huia.pose.calculators.image: TF.js's own tf.image.cropAndResize / resizeBilinear (cpu backend).
// Usage: node image_ops_oracle.mjs JOB_DIR; JOB_DIR/job.json {"cases": [{"op", "file", "shape", "box", "size"}]}
// (float32 image files); writes out_<i>.bin (float32) per case and result.json with their shapes.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const webDir = process.env.HUIA_WEB_DIR || path.resolve(here, '..', '..', 'web');
const require = createRequire(path.join(webDir, 'package.json'));
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');

const jobDir = process.argv[2];
const job = JSON.parse(fs.readFileSync(path.join(jobDir, 'job.json'), 'utf8'));

async function main() {
  await tf.setBackend('cpu');
  const shapes = [];
  job.cases.forEach((c, i) => {
    const buf = fs.readFileSync(path.join(jobDir, c.file));
    const img = tf.tensor(new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)), c.shape);
    let out;
    if (c.op === 'cropAndResize') {
      out = tf.squeeze(tf.image.cropAndResize(tf.expandDims(img, 0), tf.tensor2d([c.box]), tf.tensor1d([0], 'int32'), c.size, 'bilinear', 0), [0]);
    } else {
      out = tf.image.resizeBilinear(img, c.size, false, false);
    }
    fs.writeFileSync(path.join(jobDir, `out_${i}.bin`), Buffer.from(out.dataSync().buffer));
    shapes.push(out.shape);
  });
  fs.writeFileSync(path.join(jobDir, 'result.json'), JSON.stringify({ shapes }));
}
main().catch((e) => { fs.writeFileSync(path.join(jobDir, 'error.txt'), String(e && e.stack || e)); process.exit(1); });
