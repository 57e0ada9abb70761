// Outbound network from steps: the rule itself lives in netguard.cjs (decided on the resolved address at the
// native connect, whatever the client); this module gives it the run's endpoints and stub service, and
// records every fetch/http/https call with its answer for the trace.
import http from "node:http";
import https from "node:https";
import { syncBuiltinESMExports } from "node:module";
import guard from "./netguard.cjs";

// fetch's connection pool: Node 18-22 keep it under undici.globalDispatcher.1, Node 24 under .1 and .2
const isDispatcherKey = (key) => typeof key === "symbol" && String(key.description).startsWith("undici.globalDispatcher");

let recorder = null; // (record) => void, set while a run is active
let inflight = 0;
let counter = 0;

export const EgressRefusedError = guard.EgressRefusedError;

/** The run's rule: {allow: [{address, port}], names: [...], stub: {address, port}}; `record` gets each entry. */
export function configureEgress(spec, onEntry) {
  guard.configure(spec);
  recorder = onEntry;
  guard.setRecorder((entry) => record(entry));
}

/** Between runs: nothing is recorded and every connection is refused (no stub service is listening). */
export function stopRecording() {
  recorder = null;
  guard.setRecorder(null);
  guard.configure(null);
}

// called when a call starts and again when it ends, with the same entry (its `n` identifies it)
function record(entry) {
  if (entry.n === undefined) entry.n = ++counter;
  if (recorder) recorder(entry);
}

export function installEgressGuards() {
  guard.install();

  const realFetch = globalThis.fetch;
  globalThis.fetch = async function fetch(input, init) {
    const isRequest = typeof Request !== "undefined" && input instanceof Request;
    const url = isRequest ? input.url : String(input instanceof URL ? input.href : input);
    const method = String(init?.method ?? (isRequest ? input.method : "GET")).toUpperCase();
    const entry = { via: "fetch", method, url };
    record(entry);
    const started = performance.now();
    inflight += 1;
    try {
      const response = await realFetch(input, init);
      entry.status = response.status;
      return response;
    } catch (err) {
      entry.error = describe(err);
      throw err;
    } finally {
      inflight -= 1;
      entry.ms = round(performance.now() - started);
      record(entry);
    }
  };

  for (const [mod, scheme] of [
    [http, "http:"],
    [https, "https:"],
  ]) {
    const request = mod.request;
    mod.request = function guardedRequest(...args) {
      const req = request.apply(this, args);
      const entry = { via: scheme.slice(0, -1), method: req.method, url: requestUrl(scheme, args, req) };
      record(entry);
      const started = performance.now();
      inflight += 1;
      let done = false;
      const finish = () => {
        if (!done) {
          done = true;
          inflight -= 1;
          entry.ms = round(performance.now() - started);
          record(entry);
        }
      };
      req.once("response", (res) => {
        entry.status = res.statusCode;
        finish();
      });
      req.once("error", (err) => {
        entry.error = describe(err);
        finish();
      });
      req.once("close", finish);
      return req;
    };
    mod.get = function guardedGet(...args) {
      const req = mod.request(...args);
      req.end();
      return req;
    };
  }
  syncBuiltinESMExports();
}

export function inflightRequests() {
  return inflight;
}

/** Drop every pooled connection, so nothing a run opened survives into the next run. */
export function dropConnections() {
  http.globalAgent.destroy();
  https.globalAgent.destroy();
  const fresh = new Map(); // old dispatcher -> its replacement (keys that share one keep sharing)
  for (const key of Object.getOwnPropertySymbols(globalThis).filter(isDispatcherKey)) {
    const old = globalThis[key];
    if (!old) continue;
    if (!fresh.has(old)) fresh.set(old, new old.constructor());
    globalThis[key] = fresh.get(old);
  }
  // destroy() makes an error (with its stack) per connection it ends, a third of the check's time: none of
  // those errors is ever seen, so they are made without a stack
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    for (const old of fresh.keys()) old.destroy().catch(() => {});
  } finally {
    Error.stackTraceLimit = limit;
  }
  return inflight;
}

function requestUrl(scheme, args, req) {
  const first = args[0];
  if (typeof first === "string" || first instanceof URL) {
    try {
      return new URL(first).href;
    } catch {
      // fall through to the options form
    }
  }
  const port = first && typeof first === "object" && first.port ? `:${first.port}` : "";
  return `${scheme}//${req.host}${port}${req.path}`;
}

function round(ms) {
  return Math.round(ms * 100) / 100;
}

function describe(err) {
  let text = `${err?.name ?? "Error"}: ${err?.message ?? String(err)}`;
  if (err?.cause) text += ` (cause: ${err.cause?.message ?? String(err.cause)})`;
  return text;
}
