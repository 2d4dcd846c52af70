// The studio's one header. Every page has `<nav class="topnav" aria-label="studio pages">` holding only its own
// status line, and loads this module from <head>; the brand and the page links are rendered here, with the current
// page marked (aria-current="page"), so adding a page means one line in STUDIO_PAGES.

/** The studio pages in nav order: [href, label]. */
export const STUDIO_PAGES = [
  ['/', 'Home'],
  ['/pose.html', 'Live pose'],
  ['/capture.html', 'Capture'],
  ['/gestures.html', 'Gestures'],
  ['/detector.html', 'Detector'],
  ['/huia.html', 'Huia'],
];

/** The nav href of a location path ('/index.html' and '/' are both Home), or null for pages not in the nav. */
export function currentHref(path) {
  const p = path === '/index.html' ? '/' : path;
  return STUDIO_PAGES.some(([href]) => href === p) ? p : null;
}

/**
 * Put the brand, the page links and a spacer in front of whatever the nav already holds (the page's status line).
 * Idempotent: a second call replaces the links it rendered before.
 */
export function renderNav(nav, path) {
  nav.querySelectorAll('[data-studio-nav]').forEach((el) => el.remove());
  const current = currentHref(path);
  const make = (tag, cls, attrs = {}) => {
    const el = document.createElement(tag);
    el.className = cls;
    el.dataset.studioNav = '';
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    return el;
  };
  const brand = make('a', 'brand', { href: '/' });
  brand.append('hu');
  const accent = document.createElement('span');
  accent.textContent = 'ia';
  brand.append(accent, ' studio');
  const items = [brand];
  for (const [href, label] of STUDIO_PAGES) {
    const a = make('a', 'nav', href === current ? { href, 'aria-current': 'page' } : { href });
    a.textContent = label;
    items.push(a);
  }
  items.push(make('span', 'spacer'));
  nav.prepend(...items);
  return nav;
}

if (typeof document !== 'undefined') {
  const nav = document.querySelector('nav.topnav');
  if (nav) renderNav(nav, location.pathname);
}
