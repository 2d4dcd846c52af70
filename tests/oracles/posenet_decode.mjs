// Test oracle: the reference PoseNet decoders of @tensorflow-models/posenet 2.2.2 (dev dependency, never used by
// the product). Usage: node posenet_decode.mjs JOB_DIR
//   JOB_DIR/job.json: {"cases": [{"file", "h", "w", "stride", "mode": "single"|"multi", "maxPoses",
//                      "scoreThreshold", "nmsRadius"}], "benchRuns": 0}
//   each case file: float32 scores [h,w,17] ++ offsets [h,w,34] ++ displacementsFwd [h,w,32] ++ displacementsBwd
//   writes JOB_DIR/result.json: {"results": [[{score, keypoints: [{y, x, score}]}]], "benchMs": [[...]]}
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const here = path.dirname(fileURLToPath(import.meta.url));
const webDir = process.env.HUIA_WEB_DIR || path.resolve(here, '..', '..', 'web');
const require = createRequire(path.join(webDir, 'package.json'));
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const posenet = require('@tensorflow-models/posenet');

const jobDir = process.argv[2];
const job = JSON.parse(fs.readFileSync(path.join(jobDir, 'job.json'), 'utf8'));

function toJson(poses) {
  return poses.map((p) => ({
    score: p.score,
    keypoints: p.keypoints.map((k) => ({ y: k.position.y, x: k.position.x, score: k.score })),
  }));
}

async function main() {
  await tf.setBackend('cpu');
  await tf.ready();
  const results = [];
  const benchMs = [];
  for (const c of job.cases) {
    const buf = fs.readFileSync(path.join(jobDir, c.file));
    const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const n = c.h * c.w;
    const sizes = [17, 34, 32, 32];
    const parts = [];
    let at = 0;
    for (const s of sizes) { parts.push(all.slice(at, at + n * s)); at += n * s; }
    if (c.mode === 'single') {
      const scores = tf.tensor3d(parts[0], [c.h, c.w, 17]);
      const offsets = tf.tensor3d(parts[1], [c.h, c.w, 34]);
      const pose = await posenet.decodeSinglePose(scores, offsets, c.stride);
      results.push(toJson([pose]));
      scores.dispose(); offsets.dispose();
      continue;
    }
    const bufs = parts.map((p, i) => tf.buffer([c.h, c.w, sizes[i]], 'float32', p));
    const run = () => posenet.decodeMultiplePoses(bufs[0], bufs[1], bufs[2], bufs[3], c.stride,
      c.maxPoses, c.scoreThreshold, c.nmsRadius);
    const poses = await run();
    results.push(toJson(poses));
    if (job.benchRuns) {
      for (let i = 0; i < 10; i++) await run();  // warm-up (JIT)
      const times = [];
      for (let i = 0; i < job.benchRuns; i++) {
        const t0 = performance.now();
        await run();
        times.push(performance.now() - t0);
      }
      benchMs.push(times);
    }
  }
  fs.writeFileSync(path.join(jobDir, 'result.json'), JSON.stringify({ results, benchMs }));
}

main().catch((e) => { fs.writeFileSync(path.join(jobDir, 'error.txt'), String(e && e.stack || e)); process.exit(1); });
