// Building the page: every text goes in as text (never as HTML), so what
// people write in a draft, a comment or a cell is shown and never run.

/** An element: h("p.note", {onclick}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(" ");
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces what `el` holds. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An SVG element (for charts). */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) {
    if (c instanceof Node) el.appendChild(c);
    else if (c !== undefined && c !== null) el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

/** A drawing the node made (a report's figure, `kp_model::figure::svg`,
 * which escapes every text it draws): parsed as SVG, never as HTML, and set
 * without scripts or event attributes in case one ever slipped in. */
export function drawing(svgText) {
  const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
  const root = doc.documentElement;
  if (!root || root.nodeName !== "svg" || doc.querySelector("parsererror")) return null;
  for (const el of root.querySelectorAll("script, foreignObject")) el.remove();
  for (const el of [root, ...root.querySelectorAll("*")]) {
    for (const a of [...el.attributes]) if (a.name.toLowerCase().startsWith("on")) el.removeAttribute(a.name);
  }
  root.removeAttribute("width");
  root.removeAttribute("height");
  root.setAttribute("class", "figure-drawing");
  return document.importNode(root, true);
}

/** "3 Dec 2026, 14:05" in the reader's locale. */
export function when(unixSeconds) {
  if (!unixSeconds) return "";
  return new Date(unixSeconds * 1000).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
}

/** Says something to the person (and to screen readers). */
export function say(text, kind = "info") {
  const s = document.getElementById("status");
  s.className = `status ${kind}`;
  s.textContent = text;
  clearTimeout(say.timer);
  if (kind !== "error") say.timer = setTimeout(() => (s.textContent = ""), 6000);
}

/** A colour of its own for each person, readable on white. */
export function colour(name) {
  let x = 0;
  for (const c of name) x = (x * 31 + c.codePointAt(0)) >>> 0;
  return `hsl(${x % 360} 70% 35%)`;
}
