// Outbound network from steps: loopback only, enforced where every client ends up (net.Socket#connect is
// used by fetch/undici, http, https, tls and axios alike), and every HTTP call recorded for the trace.
// issue 4, item 1: "outbound HTTP from steps may reach loopback only by default (the emulator and local
// sinks); anything else is refused with a clear error ... every call is recorded."
import net from "node:net";
import http from "node:http";
import https from "node:https";
import { syncBuiltinESMExports } from "node:module";

// fetch's connection pool: Node 18-22 keep it under undici.globalDispatcher.1, Node 24 under .1 and .2
const isDispatcherKey = (key) => typeof key === "symbol" && String(key.description).startsWith("undici.globalDispatcher");

let mode = "endpoints"; // endpoints: only the run's own endpoints; loopback: any loopback port
let allowed = new Set(); // "loopback:PORT" or "host:PORT"
let recorder = null; // (record) => void, set while a run is active
let inflight = 0;
let counter = 0;

export function isLoopback(host) {
  const h = String(host ?? "")
    .toLowerCase()
    .replace(/^\[|\]$/g, "");
  return (
    h === "localhost" ||
    h.endsWith(".localhost") ||
    /^127\.\d+\.\d+\.\d+$/.test(h) ||
    h === "::1" ||
    h === "0:0:0:0:0:0:0:1" ||
    /^::ffff:127\.\d+\.\d+\.\d+$/.test(h)
  );
}

function key(host, port) {
  const h = String(host ?? "")
    .toLowerCase()
    .replace(/^\[|\]$/g, "");
  return `${isLoopback(h) ? "loopback" : h}:${port}`;
}

export function configureEgress(spec, record) {
  mode = spec.mode;
  allowed = new Set(spec.allow.map((entry) => key(entry.host, entry.port)));
  recorder = record;
}

export function stopRecording() {
  recorder = null;
}

function allowedTarget(target) {
  if (target.path !== undefined) return "connections to local sockets by path are not allowed";
  if (allowed.has(key(target.host, target.port))) return null;
  if (mode === "loopback" && isLoopback(target.host)) return null;
  if (!isLoopback(target.host)) {
    return "steps may reach loopback addresses only (the Hall emulator and local sinks)";
  }
  return "this loopback port is neither the Hall emulator nor a local sink of this run";
}

function connectTarget(args) {
  let first = args[0];
  if (Array.isArray(first)) first = first[0]; // net's normalized [options, callback]
  if (first && typeof first === "object") {
    if (first.path) return { path: String(first.path) };
    return { host: first.host || "localhost", port: Number(first.port) };
  }
  if (typeof first === "string" && !/^\d+$/.test(first)) return { path: first };
  return { host: typeof args[1] === "string" ? args[1] : "localhost", port: Number(first) };
}

export class EgressRefusedError extends Error {
  constructor(target, why) {
    const where = target.path !== undefined ? target.path : `${target.host}:${target.port}`;
    super(
      `hallsim refused a connection to ${where}: ${why}; ` +
        "allow more with the setting egress_allow=HOST:PORT (or egress=loopback)",
    );
    this.name = "EgressRefusedError";
    this.code = "HALLSIM_EGRESS_REFUSED";
  }
}

// called when a call starts and again when it ends, with the same entry (its `n` identifies it)
function record(entry) {
  if (entry.n === undefined) entry.n = ++counter;
  if (recorder) recorder(entry);
}

export function installEgressGuards() {
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(...args) {
    const target = connectTarget(args);
    const why = allowedTarget(target);
    if (why === null) return connect.apply(this, args);
    const err = new EgressRefusedError(target, why);
    record({ via: "connect", host: target.host, port: target.port, path: target.path, refused: err.message });
    // fail like a refused connection would: asynchronously, through the socket's error path
    process.nextTick(() => this.destroy(err));
    return this;
  };

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
  for (const old of fresh.keys()) old.destroy().catch(() => {});
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
