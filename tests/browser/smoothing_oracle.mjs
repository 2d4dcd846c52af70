// Runs the browser's keypoint smoother (web/js/pose/calculators/smoothing.js, as posenet.js and BlazePose use it)
// in Node on a keypoint sequence: stdin {frames: [[[x, y, score], ...], ...], t_us: [...]} -> stdout [[[x, y], ...]].
// argv[2]: file URL of smoothing.js.
const { PoseSmoother } = await import(process.argv[2]);
let text = '';
for await (const chunk of process.stdin) text += chunk;
const { frames, t_us: tUs } = JSON.parse(text);
const smoother = new PoseSmoother();
const out = frames.map((kps, i) => {
  const pose = { score: 1, keypoints: kps.map(([x, y, score], k) => ({ name: `k${k}`, x, y, score })) };
  return smoother.apply(pose, tUs[i]).keypoints.map((k) => [k.x, k.y]);
});
process.stdout.write(JSON.stringify(out));
