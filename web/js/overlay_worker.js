// The drawing half of web/js/overlay.js: owns the transferred overlay canvas and repaints it with the latest scene
// once per animation frame (scenes that arrive between two frames are coalesced: only the newest is drawn).
// draw.js is imported dynamically: it awaits the keypoint spec at top level, and the message handler must be in
// place before that, or the canvas sent right after the worker starts could be missed.
const drawing = import('./draw.js');
let ctx = null;
let pending = null;
let scheduled = false;
const nextFrame = self.requestAnimationFrame ? (f) => self.requestAnimationFrame(f) : (f) => setTimeout(f, 0);

async function render() {
  const { drawScene } = await drawing;
  scheduled = false;
  const scene = pending;
  pending = null;
  if (scene && ctx) drawScene(ctx, scene);
}

async function handle(data) {
  if (data.type === 'init') {
    ctx = data.canvas.getContext('2d', { willReadFrequently: true });
  } else if (data.type === 'scene') {
    pending = data.scene;
    if (!scheduled) {
      scheduled = true;
      nextFrame(() => render().catch(report));
    }
  } else if (data.type === 'ink') {
    await render();
    const { countInkPixels } = await drawing;
    self.postMessage({ type: 'ink', id: data.id, pixels: ctx ? countInkPixels(ctx) : 0 });
  }
}

/** Errors go to the page (an async handler's rejection would otherwise vanish in the worker). */
function report(e) { self.postMessage({ type: 'error', message: String(e && e.stack ? e.stack : e) }); }

self.onmessage = ({ data }) => { handle(data).catch(report); };
