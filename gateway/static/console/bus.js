// A page-wide event bus between the header and the screens (no module imports another's UI).
const target = new EventTarget();

export function emit(type, detail) {
  target.dispatchEvent(new CustomEvent(type, { detail }));
}

// Returns the function that removes the listener.
export function on(type, listener) {
  const wrapped = (event) => listener(event.detail);
  target.addEventListener(type, wrapped);
  return () => target.removeEventListener(type, wrapped);
}
