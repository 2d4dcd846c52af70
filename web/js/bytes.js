// Byte helpers shared by the pages' test/automation hooks.

/** Base64 of a Uint8Array (in chunks: String.fromCharCode.apply takes a bounded number of arguments). */
export function bytesToBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
