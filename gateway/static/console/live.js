// Subscriptions over graphql-transport-ws through the graphql-ws client (the classic script
// vendor/graphql-ws.min.js defines the global `graphqlWs`). Payloads carry a `documentId`,
// never a query text (`query` is "", which graphql-ws requires to be a string). Abnormal
// closes (1001 going away, 1013 try again later, a lost network) reconnect with jittered
// exponential backoff; the screens refetch once reconnected.
import { documentId } from "./api.js";
import { emit } from "./bus.js";
import { expireSession, getToken } from "./session.js";

// Closes that must not be retried: a refused or expired token (4403), over the socket cap
// (1008), and the protocol's own fatal codes.
const NO_RETRY = new Set([1000, 1008, 4400, 4401, 4403, 4406, 4409, 4429, 4500]);
const MAX_WAIT_MS = 30000;

let client = null;
let lostConnection = false;
let state = "idle";
const reconnectListeners = new Set();

function isCloseEvent(value) {
  return Boolean(value) && typeof value === "object" && "code" in value && "reason" in value;
}

function setState(next, detail) {
  state = next;
  emit("live-state", { state: next, detail });
}

export function liveState() {
  return state;
}

// Full jitter between half and all of 1 s · 2^retries, at most 30 s.
async function backoff(retries) {
  const ceiling = Math.min(MAX_WAIT_MS, 1000 * 2 ** retries);
  const wait = ceiling / 2 + Math.random() * (ceiling / 2);
  await new Promise((resolve) => setTimeout(resolve, wait));
}

function ensureClient() {
  if (client) return client;
  if (typeof graphqlWs === "undefined") throw new Error("The graphql-ws client did not load");
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  client = graphqlWs.createClient({
    url: `${scheme}${location.host}/graphql`,
    connectionParams: () => ({ authorization: `Bearer ${getToken()}` }),
    retryAttempts: Infinity,
    retryWait: backoff,
    // A socket that cannot open (the gateway restarting) reports an error event before its
    // close: retry those too, or one refused attempt would end live updates for good.
    shouldRetry: (event) => !isCloseEvent(event) || !NO_RETRY.has(event.code),
    on: {
      connecting: () => {
        if (state !== "connected") setState(lostConnection ? "reconnecting" : "connecting");
      },
      connected: (_socket, _payload, wasRetry) => {
        const reconnected = wasRetry || lostConnection;
        lostConnection = false;
        setState("connected");
        if (reconnected) for (const listener of [...reconnectListeners]) listener();
      },
      closed: (event) => {
        if (!isCloseEvent(event)) return;
        if (event.code === 4403) {
          setState("stopped", "Your session expired");
          expireSession();
        } else if (event.code === 1008) {
          setState("stopped", "Too many open connections for this user (close 1008)");
        } else if (NO_RETRY.has(event.code)) {
          if (event.code !== 1000) setState("stopped", `Live updates stopped (close ${event.code})`);
          else if (state === "connected") setState("idle");
        } else {
          lostConnection = true;
          setState("reconnecting", `Connection lost (close ${event.code}); reconnecting`);
        }
      },
    },
  });
  return client;
}

function describeError(error) {
  if (isCloseEvent(error)) return { message: `Live updates stopped (close ${error.code})`, code: `CLOSE_${error.code}` };
  if (Array.isArray(error) && error.length > 0) {
    const first = error[0];
    return { message: first.message || "Subscription refused", code: (first.extensions && first.extensions.code) || "ERROR" };
  }
  if (error instanceof Error) return { message: error.message, code: "ERROR" };
  return { message: "Subscription failed", code: "ERROR" };
}

// subscribe("AppStatusChanged", {appIds}, (data) => …, (error) => …) -> unsubscribe()
export function subscribe(operationName, variables, onData, onError) {
  let dispose = () => {};
  try {
    // graphql-ws refuses a subscribe payload whose `query` is not a string; the gateway takes
    // an empty `query` beside a `documentId` as none (DESIGN §3, persisted documents).
    const payload = { documentId: documentId(operationName), operationName, variables: variables || {}, query: "" };
    dispose = ensureClient().subscribe(payload, {
      next: (result) => {
        if (result.errors && result.errors.length > 0) {
          if (onError) onError(describeError(result.errors));
        } else if (result.data) {
          onData(result.data);
        }
      },
      error: (error) => {
        if (isCloseEvent(error) && (error.code === 4403 || !getToken())) return;
        if (onError) onError(describeError(error));
      },
      complete: () => {},
    });
  } catch (error) {
    if (onError) onError(describeError(error));
  }
  return () => dispose();
}

// Called after a reconnection (the subscriptions resume by themselves; what they missed is
// refetched by the listener). Returns the function that removes the listener.
export function onReconnect(listener) {
  reconnectListeners.add(listener);
  return () => reconnectListeners.delete(listener);
}

// Sign-out or an expired session: close the socket and forget the client.
export function stopLive() {
  if (client) {
    const closing = client;
    client = null;
    // dispose() waits for a socket being opened, and rejects when that socket is refused.
    Promise.resolve(closing.dispose()).catch(() => {});
  }
  lostConnection = false;
  setState("idle");
}
