// A client worker of the live-updates bench (bench/subscriptions.py --client node): holds a share
// of the graphql-transport-ws sockets and records each delivery's latency, as the Python workers
// do. Commands arrive on stdin, one JSON array a line; each gets one JSON object a line on
// stdout:
//   ["connect", [[wsUrl, token], ...], concurrency] -> {opened, failures, seconds, extensions}
//   ["stats"]                                       -> {received, open, primed}
//   ["report", expectedEach]  -> since the last report, then reset: {latencies (base64 of
//                                float64 seconds), received, open, short, errors, closes, cpu}
//   ["close"]                                       -> {closed}
//   ["exit"]                                        -> closes the sockets and exits
// `--deflate` offers permessage-deflate. A latency is the receipt time (the bench's clock) less
// the message's occurredAt.
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

const PROTOCOL = "graphql-transport-ws";
const SUBSCRIPTION = "subscription { appStatusChanged { app { id status } status occurredAt } }";
const deflate = process.argv.includes("--deflate");

const state = {
  subs: new Set(), // {ws, received}
  latencies: [], // seconds
  received: 0,
  errors: new Map(),
  closes: new Map(),
  closing: false,
  cpuMark: process.cpuUsage(),
  extensions: null,
};

// The bench's clock (bench/subscriptions.py bench_clock): CLOCK_MONOTONIC, which hrtime reads,
// shifted by the offset the parent chose, so a step of the wall clock changes no latency.
const CLOCK_OFFSET = Number(process.env.BENCH_CLOCK_OFFSET);
if (!Number.isFinite(CLOCK_OFFSET)) throw new Error("BENCH_CLOCK_OFFSET is not set");
const nowSeconds = () => CLOCK_OFFSET + Number(process.hrtime.bigint()) / 1e9;

function count(map, key) {
  map.set(key, (map.get(key) || 0) + 1);
}

// Python's isoformat: 2026-05-09T12:00:10.123456+00:00 (Date.parse keeps milliseconds only).
const ISO = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(.*)$/;
function isoSeconds(text) {
  const m = ISO.exec(text);
  if (!m) return Date.parse(text) / 1000;
  return Date.parse(m[1] + (m[3] || "Z")) / 1000 + (m[2] ? Number(m[2]) : 0);
}

const OCCURRED_AT = '"occurredAt":"';

function onMessage(sub, raw) {
  const now = nowSeconds();
  const text = raw.toString();
  // The common case without JSON.parse: a `next` frame without errors. Its occurredAt is the
  // only one in the frame (the subscription asks for it once).
  const at = text.indexOf(OCCURRED_AT);
  if (at > 0 && text.includes('"type":"next"') && !text.includes('"errors"')) {
    const start = at + OCCURRED_AT.length;
    state.latencies.push(now - isoSeconds(text.slice(start, text.indexOf('"', start))));
    state.received += 1;
    sub.received += 1;
    return;
  }
  let message;
  try {
    message = JSON.parse(text);
  } catch (err) {
    count(state.errors, `unparsable: ${text.slice(0, 80)}`);
    return;
  }
  const kind = message.type;
  if (kind === "next") {
    const payload = message.payload || {};
    const change = (payload.data || {}).appStatusChanged;
    if (payload.errors || !change) {
      count(state.errors, `next with errors: ${JSON.stringify(payload.errors).slice(0, 100)}`);
      return;
    }
    state.latencies.push(now - isoSeconds(change.occurredAt));
    state.received += 1;
    sub.received += 1;
  } else if (kind === "ping") {
    sub.ws.send('{"type": "pong"}');
  } else if (kind !== "pong") {
    count(state.errors, `${kind}: ${JSON.stringify(message.payload).slice(0, 100)}`);
  }
}

// Open, init and subscribe one socket: resolves to null, or a failure's description.
function openOne(url, token) {
  return new Promise((resolve) => {
    let settled = false;
    const ws = new WebSocket(url, PROTOCOL, {
      perMessageDeflate: deflate,
      handshakeTimeout: 60000,
      maxPayload: 0,
      skipUTF8Validation: true, // the servers send JSON they encoded; the parse would fail
    });
    const sub = { ws, received: 0 };
    const fail = (what) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      resolve(what);
    };
    const timer = setTimeout(() => fail("TimeoutError no connection_ack in 60 s"), 60000);
    ws.on("unexpected-response", (_request, response) => fail(`HTTP ${response.statusCode}`));
    ws.on("error", (err) => fail(`${err.code || err.name} ${String(err.message).slice(0, 80)}`));
    ws.on("open", () => {
      const init = { type: "connection_init", payload: { authorization: `Bearer ${token}` } };
      ws.send(JSON.stringify(init));
    });
    ws.on("close", (code, reason) => {
      if (!settled) {
        fail(`closed ${code} ${reason}`.trim());
        return;
      }
      if (state.subs.delete(sub) && !state.closing) {
        count(state.closes, `${code} ${reason || ""}`.trim());
      }
    });
    ws.once("message", (raw) => {
      if (settled) return;
      let ack;
      try {
        ack = JSON.parse(raw.toString());
      } catch (err) {
        fail(`RuntimeError unparsable ack`);
        return;
      }
      if (ack.type !== "connection_ack") {
        fail(`RuntimeError expected connection_ack, got ${ack.type}`);
        return;
      }
      settled = true;
      clearTimeout(timer);
      ws.on("message", (data) => onMessage(sub, data));
      ws.send(JSON.stringify({ id: "s1", type: "subscribe", payload: { query: SUBSCRIPTION } }));
      if (state.extensions === null) state.extensions = ws.extensions || "";
      state.subs.add(sub);
      resolve(null);
    });
  });
}

async function connect(targets, concurrency) {
  const started = performance.now();
  const failures = new Map();
  let opened = 0;
  let next = 0;
  async function lane() {
    while (next < targets.length) {
      const [url, token] = targets[next++];
      const failure = await openOne(url, token);
      if (failure === null) opened += 1;
      else count(failures, failure);
    }
  }
  const lanes = [];
  for (let i = 0; i < Math.max(1, Math.min(concurrency, targets.length)); i++) lanes.push(lane());
  await Promise.all(lanes);
  return {
    opened,
    failures: Object.fromEntries(failures),
    seconds: (performance.now() - started) / 1000,
    extensions: state.extensions,
  };
}

function report(expectedEach) {
  const cpu = process.cpuUsage(state.cpuMark);
  const latencies = Float64Array.from(state.latencies);
  let short = 0;
  for (const sub of state.subs) if (sub.received < expectedEach) short += 1;
  const result = {
    latencies: Buffer.from(latencies.buffer).toString("base64"),
    received: state.received,
    open: state.subs.size,
    short,
    errors: Object.fromEntries(state.errors),
    closes: Object.fromEntries(state.closes),
    cpu: (cpu.user + cpu.system) / 1e6,
  };
  state.latencies = [];
  state.received = 0;
  state.cpuMark = process.cpuUsage();
  state.errors.clear();
  state.closes.clear();
  for (const sub of state.subs) sub.received = 0;
  return result;
}

async function closeAll() {
  state.closing = true;
  const subs = [...state.subs];
  await Promise.all(
    subs.map(
      (sub) =>
        new Promise((resolve) => {
          if (sub.ws.readyState === WebSocket.CLOSED) {
            resolve();
            return;
          }
          const timer = setTimeout(() => {
            sub.ws.terminate();
            resolve();
          }, 15000);
          sub.ws.once("close", () => {
            clearTimeout(timer);
            resolve();
          });
          sub.ws.close(1000);
        }),
    ),
  );
  state.subs.clear();
  state.closing = false;
  return subs.length;
}

function reply(value) {
  process.stdout.write(JSON.stringify(value) + "\n");
}

// Commands run one at a time, in order, as the Python workers run them.
let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const [command, ...args] = JSON.parse(line);
  queue = queue.then(async () => {
    if (command === "exit") {
      await closeAll();
      process.exit(0);
    } else if (command === "connect") {
      reply(await connect(args[0], args[1]));
    } else if (command === "stats") {
      let primed = 0;
      for (const sub of state.subs) if (sub.received > 0) primed += 1;
      reply({ received: state.received, open: state.subs.size, primed });
    } else if (command === "report") {
      reply(report(args[0]));
    } else if (command === "close") {
      reply({ closed: await closeAll() });
    } else {
      reply({ error: `unknown command ${command}` });
    }
  });
});
lines.on("close", () => {
  queue.then(async () => {
    await closeAll();
    process.exit(0);
  });
});
