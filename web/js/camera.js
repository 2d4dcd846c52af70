// Webcam helper shared by the studio pages.

/**
 * Open the webcam into `video` and resolve once frames flow.
 * resizeMode 'none' keeps the camera's native frames (no browser-side crop/scale), so keypoints are in
 * the pixels the camera really delivered.
 */
export async function openCamera(video, { width = 640, height = 480, facingMode = 'user' } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error(isSecureContext ? 'this browser has no camera API'
      : 'the camera needs https or localhost: start the studio with `huia studio --host 0.0.0.0 --https`'
        + ' to open it from another device');
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: false,
    video: { width: { ideal: width }, height: { ideal: height }, facingMode, resizeMode: 'none' },
  });
  video.srcObject = stream;
  video.muted = true;
  video.playsInline = true;
  await new Promise((resolve) => {
    if (video.readyState >= 2) resolve();
    else video.onloadeddata = () => resolve();
  });
  await video.play();
  video.width = video.videoWidth;
  video.height = video.videoHeight;
  return stream;
}

/** Stop every track of a stream (no-op for null). */
export function closeCamera(stream) {
  if (stream) for (const t of stream.getTracks()) t.stop();
}
