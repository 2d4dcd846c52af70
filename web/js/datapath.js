// The studio's real data folder in place of the DATA/ placeholder of help texts and recipes, so a user can copy a
// command as it is. Elements marked `data-datapath` get it; the folder comes from /api/health (asked once a page).
let asked = null;

/** The data folder with a trailing '/', or null when the server cannot say (the texts keep DATA/). */
export function dataDir() {
  asked ??= fetch('/api/health')
    .then((r) => (r.ok ? r.json() : {}))
    .then((h) => (h.data_dir ? h.data_dir.replace(/\/?$/, '/') : null))
    .catch(() => null);
  return asked;
}

/** Replace DATA/ by the data folder in every `[data-datapath]` element under `root`; resolves with the folder. */
export async function fillDataPaths(root = document) {
  const dir = await dataDir();
  if (dir) for (const el of root.querySelectorAll('[data-datapath]')) el.textContent = el.textContent.replaceAll('DATA/', dir);
  return dir;
}
