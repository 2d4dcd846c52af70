// Reading pixels cheaply: for DOM sources we ask TF.js for RGBA (a native Int32Array copy of the canvas bytes)
// instead of RGB (a per-pixel JS loop over the whole frame), resample the 4-channel image, and drop alpha on the
// small result. The values the model sees are identical.

/** Keep the first 3 channels of an NHWC tensor (no-op when it already has 3). */
export function rgb(tf, x) {
  const c = x.shape[x.shape.length - 1];
  if (c === 3) return x;
  const begin = x.shape.map(() => 0);
  const size = x.shape.slice();
  size[size.length - 1] = 3;
  return tf.slice(x, begin, size);
}

let frameCtx = null;

/**
 * RGBA bytes of a DOM source ({data, width, height}) through one CPU-backed canvas (willReadFrequently keeps
 * getImageData off the GPU). ImageData passes through.
 */
export function rgbaPixels(source) {
  if (typeof ImageData !== 'undefined' && source instanceof ImageData) return source;
  const width = source.videoWidth || source.naturalWidth || source.width;
  const height = source.videoHeight || source.naturalHeight || source.height;
  if (!frameCtx) frameCtx = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
  const c = frameCtx.canvas;
  if (c.width !== width || c.height !== height) { c.width = width; c.height = height; }
  frameCtx.drawImage(source, 0, 0, width, height);
  return frameCtx.getImageData(0, 0, width, height);
}

/**
 * RGBA bytes of a <video>'s current frame through WebCodecs (`VideoFrame.copyTo(..., {format: 'RGBA'})`) into a
 * buffer kept in `cache` between calls: the same bytes as rgbaPixels' drawImage + getImageData (a browser test
 * checks it) for a third of the cost, with no canvas and no 1.3 MB ImageData per frame. Other sources, or a
 * browser that cannot convert (no WebCodecs, rotated or non-square-pixel frames), take rgbaPixels.
 */
export async function rgbaPixelsFast(source, cache = {}) {
  if (typeof VideoFrame === 'undefined' || typeof HTMLVideoElement === 'undefined'
    || !(source instanceof HTMLVideoElement) || cache.noWebCodecs) return rgbaPixels(source);
  const width = source.videoWidth; const height = source.videoHeight;
  let frame;
  try {
    frame = new VideoFrame(source);
  } catch (e) {
    return rgbaPixels(source); // no frame yet (readyState < 2): what the canvas path gives (an empty frame)
  }
  try {
    const r = frame.visibleRect;
    if (!r || r.width !== width || r.height !== height || frame.rotation || frame.flip) return rgbaPixels(source);
    if (!cache.data || cache.data.length !== width * height * 4) cache.data = new Uint8ClampedArray(width * height * 4);
    await frame.copyTo(cache.data, { format: 'RGBA' });
  } catch (e) {
    cache.noWebCodecs = true; // e.g. a browser without RGBA conversion in copyTo: stay on the canvas path
    return rgbaPixels(source);
  } finally {
    frame.close();
  }
  return { data: cache.data, width, height };
}

/**
 * rgbaPixelsFast with one buffer reused across frames: `read(source, use)` resolves with `use(pixels)` and keeps
 * the buffer until `use` settles; a call overlapping one still in flight reads into a buffer of its own.
 */
export function frameReader() {
  const cache = {};
  let busy = 0;
  return async (source, use) => {
    const c = busy++ ? {} : cache;
    try {
      return await use(await rgbaPixelsFast(source, c));
    } finally {
      busy -= 1;
    }
  };
}

/**
 * tf.image.cropAndResize(image, [[y1, x1, y2, x2]], [0], [outH, outW], 'bilinear', extrapolation) followed by a cast
 * to int32 (truncation), computed in JS straight from RGBA bytes: only the sampled pixels are touched, instead of
 * converting and casting the whole frame in TF.js first. Returns RGB Int32Array [outH * outW * 3], written into
 * `out` when given (every element is written: a buffer reused across frames needs no clearing).
 */
export function cropAndResizeRGBA({ data, width: W, height: H }, box, outH, outW, extrapolation = 0,
  out = new Int32Array(outH * outW * 3)) {
  // float32 arithmetic step by step (Math.fround), as TF.js's kernels compute, so the bytes match exactly
  const f = Math.fround;
  const [y1, x1, y2, x2] = box.map(f);
  const hs = outH > 1 ? f(f(f(y2 - y1) * (H - 1)) / (outH - 1)) : 0;
  const ws = outW > 1 ? f(f(f(x2 - x1) * (W - 1)) / (outW - 1)) : 0;
  const xs0 = new Int32Array(outW); const xs1 = new Int32Array(outW);
  const xl = new Float32Array(outW); const xok = new Uint8Array(outW);
  for (let j = 0; j < outW; j++) {
    const inX = outW > 1 ? f(f(x1 * (W - 1)) + f(j * ws)) : f(f(0.5 * f(x1 + x2)) * (W - 1));
    if (inX < 0 || inX > W - 1) continue;
    xok[j] = 1;
    const l = Math.floor(inX);
    xs0[j] = l * 4; xs1[j] = Math.ceil(inX) * 4; xl[j] = f(inX - l);
  }
  const ext = Math.trunc(extrapolation);
  let o = 0;
  for (let i = 0; i < outH; i++) {
    const inY = outH > 1 ? f(f(y1 * (H - 1)) + f(i * hs)) : f(f(0.5 * f(y1 + y2)) * (H - 1));
    if (inY < 0 || inY > H - 1) {
      for (let j = 0; j < outW * 3; j++) out[o++] = ext;
      continue;
    }
    const t = Math.floor(inY);
    const rowT = t * W * 4; const rowB = Math.ceil(inY) * W * 4;
    const yl = f(inY - t);
    for (let j = 0; j < outW; j++) {
      if (!xok[j]) { out[o++] = ext; out[o++] = ext; out[o++] = ext; continue; }
      const a = rowT + xs0[j]; const b = rowT + xs1[j]; const c = rowB + xs0[j]; const d = rowB + xs1[j];
      const fx = xl[j];
      for (let ch = 0; ch < 3; ch++) {
        const tl = data[a + ch]; const bl = data[c + ch];
        const top = f(tl + f((data[b + ch] - tl) * fx));
        const bot = f(bl + f((data[d + ch] - bl) * fx));
        out[o++] = Math.trunc(f(top + f(f(bot - top) * yl)));
      }
    }
  }
  return out;
}

/**
 * tf.image.resizeBilinear(pad(image), [outH, outW], false, halfPixelCenters) of an RGBA frame zero-padded by
 * {top, bottom, left, right}, computed in JS with float32 steps: PoseNet's padAndResizeTo (halfPixelCenters false)
 * and the detector's stretch (true) without converting the whole frame to a float tensor first. Returns RGB
 * Float32Array [outH * outW * 3] (0..255), written into `out` when given (every element is written: a buffer
 * reused across frames needs no clearing).
 */
export function padResizeBilinearRGBA({ data, width: W, height: H }, pad, outH, outW,
  out = new Float32Array(outH * outW * 3), { halfPixelCenters = false } = {}) {
  const f = Math.fround;
  const Hp = H + pad.top + pad.bottom; const Wp = W + pad.left + pad.right;
  const hs = f(Hp / outH); const ws = f(Wp / outW);
  // source coordinate of output index k; half-pixel centres as the wasm kernel (XNNPACK) computes them:
  // k * scale + (0.5 * scale - 0.5), clamped at 0 below
  const source = halfPixelCenters
    ? (k, scale) => Math.max(0, f(f(k * scale) + f(f(0.5 * scale) - 0.5)))
    : (k, scale) => f(k * scale);
  // per output column: the RGBA offsets of its two source columns in a row, -1 in the zero padding
  const c0 = new Int32Array(outW); const c1 = new Int32Array(outW); const xl = new Float32Array(outW);
  let j0 = outW; let j1 = 0; // [j0, j1): the columns whose two source columns are both inside the frame
  for (let j = 0; j < outW; j++) {
    const sx = source(j, ws);
    const l = Math.floor(sx);
    const a = l - pad.left; const b = Math.min(Wp - 1, Math.ceil(sx)) - pad.left;
    c0[j] = a >= 0 && a < W ? a * 4 : -1; c1[j] = b >= 0 && b < W ? b * 4 : -1; xl[j] = f(sx - l);
    if (c0[j] >= 0 && c1[j] >= 0) { if (j < j0) j0 = j; j1 = j + 1; }
  }
  const rowOff = (y) => (y >= 0 && y < H ? y * W * 4 : -1);
  const at = (r, c) => (r < 0 || c < 0 ? -1 : r + c);
  // one value from its four neighbours (0..255 integers, 0 in the padding), in TF.js's float32 steps (the
  // difference of two integers is exact)
  const value = (tl, tr, bl, br, fx, yl) => {
    const top = f(tl + f((tr - tl) * fx));
    const bot = f(bl + f((br - bl) * fx));
    return f(top + f(f(bot - top) * yl));
  };
  const edge = (r0, r1, yl, j, o) => { // a column or row touching the padding
    const a = at(r0, c0[j]); const b = at(r0, c1[j]); const c = at(r1, c0[j]); const d = at(r1, c1[j]);
    for (let ch = 0; ch < 3; ch++) {
      out[o + ch] = value(a < 0 ? 0 : data[a + ch], b < 0 ? 0 : data[b + ch], c < 0 ? 0 : data[c + ch],
        d < 0 ? 0 : data[d + ch], xl[j], yl);
    }
  };
  for (let i = 0; i < outH; i++) {
    const sy = source(i, hs);
    const t = Math.floor(sy);
    const r0 = rowOff(t - pad.top); const r1 = rowOff(Math.min(Hp - 1, Math.ceil(sy)) - pad.top);
    const yl = f(sy - t);
    const row = i * outW * 3;
    if (r0 < 0 || r1 < 0) { for (let j = 0; j < outW; j++) edge(r0, r1, yl, j, row + 3 * j); continue; }
    for (let j = 0; j < j0; j++) edge(r0, r1, yl, j, row + 3 * j);
    for (let j = j0; j < j1; j++) {
      // inside the frame (the hot path): no bounds checks, channels unrolled
      const fx = xl[j]; const a = r0 + c0[j]; const b = r0 + c1[j]; const c = r1 + c0[j]; const d = r1 + c1[j];
      const o = row + 3 * j;
      out[o] = value(data[a], data[b], data[c], data[d], fx, yl);
      out[o + 1] = value(data[a + 1], data[b + 1], data[c + 1], data[d + 1], fx, yl);
      out[o + 2] = value(data[a + 2], data[b + 2], data[c + 2], data[d + 2], fx, yl);
    }
    for (let j = Math.max(j0, j1); j < outW; j++) edge(r0, r1, yl, j, row + 3 * j);
  }
  return out;
}

/**
 * Affine warp of an RGBA frame: output pixel (x, y) samples the frame at (a0 x + a1 y + a2, b0 x + b1 y + b2) with
 * bilinear interpolation and 0 outside (tf.image.transform's 'bilinear' / 'constant' semantics), in JS: only the
 * sampled pixels are read. Returns RGB Float32Array [outH * outW * 3] of values x `scale` (0..255 by default; 1/255
 * gives the model's [0, 1] input without a separate TF.js division), written into `out` when given (a buffer reused
 * across frames: no 768 kB allocation per frame at 256 px).
 */
export function warpAffineRGBA({ data, width: W, height: H }, [a0, a1, a2, b0, b1, b2], outH, outW,
  out = new Float32Array(outH * outW * 3), scale = 1) {
  const W4 = W * 4;
  const px = (r, c, ch) => (r < 0 || r >= H || c < 0 || c >= W ? 0 : data[r * W4 + c * 4 + ch]);
  let o = 0;
  for (let y = 0; y < outH; y++) {
    const rx = a1 * y + a2; const ry = b1 * y + b2;
    for (let x = 0; x < outW; x++, o += 3) {
      const mx = a0 * x + rx; const my = b0 * x + ry;
      const xf = Math.floor(mx); const yf = Math.floor(my);
      const fx = mx - xf; const fy = my - yf;
      if (xf >= 0 && yf >= 0 && xf + 1 < W && yf + 1 < H) {
        // inside: the four neighbours, channels unrolled (the hot path)
        const i = yf * W4 + xf * 4; const j = i + W4;
        let t = data[i] + (data[i + 4] - data[i]) * fx;
        out[o] = (t + (data[j] + (data[j + 4] - data[j]) * fx - t) * fy) * scale;
        t = data[i + 1] + (data[i + 5] - data[i + 1]) * fx;
        out[o + 1] = (t + (data[j + 1] + (data[j + 5] - data[j + 1]) * fx - t) * fy) * scale;
        t = data[i + 2] + (data[i + 6] - data[i + 2]) * fx;
        out[o + 2] = (t + (data[j + 2] + (data[j + 6] - data[j + 2]) * fx - t) * fy) * scale;
      } else if (xf < -1 || yf < -1 || xf >= W || yf >= H) {
        out[o] = 0; out[o + 1] = 0; out[o + 2] = 0; // all four neighbours outside
      } else {
        for (let ch = 0; ch < 3; ch++) {
          const top = px(yf, xf, ch) + (px(yf, xf + 1, ch) - px(yf, xf, ch)) * fx;
          const bot = px(yf + 1, xf, ch) + (px(yf + 1, xf + 1, ch) - px(yf + 1, xf, ch)) * fx;
          out[o + ch] = (top + (bot - top) * fy) * scale;
        }
      }
    }
  }
  return out;
}
