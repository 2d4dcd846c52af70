// Settings from the address (?model=posenet&backend=wasm ...), shared by the pages.

/**
 * Set a <select> from a query-string value. A value the select does not offer keeps the current choice and comes
 * back as a message (assigning it would blank the picker, and the page would fail later naming an empty model).
 * Returns null when there was nothing to say.
 */
export function selectFromQuery(select, value, what) {
  if (value == null) return null;
  const offered = [...select.options].map((o) => o.value);
  if (offered.includes(value)) { select.value = value; return null; }
  return `unknown ${what} "${value}" in the address (choose one of ${offered.join(', ')}); using ${select.value}`;
}
