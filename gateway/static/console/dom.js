// Building DOM without HTML strings: every text from the API goes in as a text node, every
// attribute through setAttribute, every listener through addEventListener.

// h("button", {type: "button", class: "primary", on: {click: fn}}, "Label", child, [more])
// Attributes: null/undefined/false are left out, true is the empty (boolean) attribute;
// `value` and `checked` are set as properties too (form state); `on` maps events to listeners.
export function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (name === "on") {
        for (const [type, listener] of Object.entries(value)) element.addEventListener(type, listener);
      } else if (value === null || value === undefined || value === false) {
        continue;
      } else if (name === "value") {
        element.value = String(value);
      } else if (name === "checked") {
        element.checked = Boolean(value);
        element.setAttribute("checked", "");
      } else if (name === "selected") {
        element.selected = Boolean(value);
        element.setAttribute("selected", "");
      } else if (value === true) {
        element.setAttribute(name, "");
      } else if (name === "href" || name === "src") {
        const url = webUrl(value);
        if (url !== null) element.setAttribute(name, url);
      } else {
        element.setAttribute(name, String(value));
      }
    }
  }
  append(element, children);
  return element;
}

// Links (some come from the API: a listing's pages) lead only to web pages: a `javascript:`
// or `data:` URL is left out of the page, not merely blocked by the Content-Security-Policy.
export function webUrl(value) {
  try {
    const url = new URL(String(value), location.href);
    return url.protocol === "https:" || url.protocol === "http:" ? String(value) : null;
  } catch {
    return null;
  }
}

export function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
  return parent;
}

// Replace an element's children.
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

// Set an element's text (the API's strings go in as text, never as markup).
export function setText(element, text) {
  element.textContent = text === null || text === undefined ? "" : String(text);
}

let counter = 0;
// A unique id for label/aria wiring.
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}
