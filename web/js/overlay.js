// An overlay canvas painted off the main thread.
// Why: in headless Chromium (software compositing, 2 shared cores) any main-thread update of the overlay canvas
// cost the Live pose page ~1.1 ms per frame -- a bare clearRect() as much as the whole skeleton -- which is most of
// the gap between the page and a bare model loop (benchmarks/browser_fps.py, MoveNet Lightning on wasm: page/bare
// 0.87 drawing on the main thread, 0.92 not drawing at all, 0.92 drawing in a worker). With
// transferControlToOffscreen() the canvas belongs to a worker whose frames go to the compositor directly, so the
// page's loop only posts a few hundred bytes of keypoints per frame. Where OffscreenCanvas is missing the same
// drawScene() runs on the main thread.
import { countInkPixels, drawScene } from './draw.js';

export function createOverlay(canvas) {
  if (typeof canvas.transferControlToOffscreen !== 'function' || typeof Worker === 'undefined') {
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    return {
      draw(scene) { drawScene(ctx, scene); },
      inkPixels: async () => countInkPixels(ctx),
      dispose() {},
    };
  }
  const offscreen = canvas.transferControlToOffscreen();
  const worker = new Worker(new URL('./overlay_worker.js', import.meta.url), { type: 'module' });
  worker.postMessage({ type: 'init', canvas: offscreen }, [offscreen]);
  const waiting = new Map();
  let nextId = 0;
  // a worker that fails (script missing, exception while painting) says so and hangs nobody waiting on it
  const fail = (message) => {
    console.error(`overlay worker: ${message}`);
    for (const resolve of waiting.values()) resolve(0);
    waiting.clear();
  };
  worker.onmessage = ({ data }) => {
    if (data.type === 'error') { fail(data.message); return; }
    const resolve = waiting.get(data.id);
    waiting.delete(data.id);
    if (resolve) resolve(data.pixels);
  };
  worker.onerror = (e) => fail(e.message || 'failed to start');
  return {
    /** Repaint with {width, height, poses?, poseOptions?, boxes?, boxOptions?} (plain data: it is copied). */
    draw(scene) { worker.postMessage({ type: 'scene', scene }); },
    /** Non-transparent pixels after the latest scene is painted. */
    inkPixels() {
      const id = nextId++;
      return new Promise((resolve) => { waiting.set(id, resolve); worker.postMessage({ type: 'ink', id }); });
    },
    dispose() { worker.terminate(); },
  };
}
