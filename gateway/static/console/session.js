// The signed-in token: taken from the URL fragment (#token=…) or pasted, kept in
// sessionStorage (so a new tab signs in again), dropped when the API refuses it.

const KEY = "gateway-console-token";
let expiredHandler = null;

// A `#token=<JWT>` fragment signs in; the fragment is removed from the address bar at once.
export function takeTokenFromFragment() {
  const match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!match) return false;
  const token = decodeURIComponent(match[1]).trim();
  history.replaceState(history.state, "", location.pathname + location.search);
  if (!token) return false;
  setToken(token);
  return true;
}

export function getToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  sessionStorage.setItem(KEY, token.replace(/^Bearer\s+/i, "").trim());
}

export function clearToken() {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // storage unavailable: nothing kept
  }
}

// The console's reaction to a refused token (HTTP 401, socket close 4403).
export function onSessionExpired(handler) {
  expiredHandler = handler;
}

export function expireSession() {
  const hadToken = getToken() !== null;
  clearToken();
  if (hadToken && expiredHandler) expiredHandler();
}
