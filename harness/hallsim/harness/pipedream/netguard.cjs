"use strict";
// The egress wall inside Node: every TCP connection a step opens, whatever the client (fetch/undici with any
// dispatcher, http, https, http2, tls, net, axios, got, node-fetch, WebSocket), ends in the native handle's
// connect()/connect6() with the address its lookup resolved. The rule is decided there, on that address and
// port: the run's own Hall and sink connect as asked; anything else is sent to the run's stub service
// (stubs/_server.py), which answers and records it. UDP sends, local socket paths and the raw bindings
// (process.binding) are refused. A refused attempt fails in the step like a network error, never in the host.
//
// CommonJS, so that a nested `new Worker(...)` can load it with `--require` before its own code: a nested
// worker is a new realm with fresh bindings, and it inherits the run's rule through the environment data.
const net = require("node:net");
const tls = require("node:tls");
const dns = require("node:dns");
const os = require("node:os");
const workerThreads = require("node:worker_threads");
const { syncBuiltinESMExports } = require("node:module");

const realBinding = process.binding;
const { TCP } = realBinding.call(process, "tcp_wrap");
const { Pipe } = realBinding.call(process, "pipe_wrap");
const { UDP } = realBinding.call(process, "udp_wrap");

const ENV_KEY = "hallsim:egress";
// where a name that is not one of the run's endpoints "resolves" to: never connected as such, always sent to the
// stub (no DNS query leaves for it); one address per name, so the record can say which name was called
const SENTINEL_BASE = [127, 255];
// raw bindings a step could build sockets or processes from, bypassing everything above them
const REFUSED_BINDINGS = new Set([
  "tcp_wrap",
  "pipe_wrap",
  "udp_wrap",
  "stream_wrap",
  "tls_wrap",
  "js_stream",
  "cares_wrap",
  "process_wrap",
  "spawn_sync",
]);
const EACCES = -os.constants.errno.EACCES;

let config = { allow: [], names: [], stub: null };
let allowSet = new Set();
let namesSet = new Set();
let recorder = null;
let sentinels = new Map(); // name -> sentinel address
let sentinelNames = new Map(); // sentinel address -> name
let installed = false;

function normalise(address) {
  let text = String(address).toLowerCase();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  return mapped ? mapped[1] : text;
}

/** The run's rule: `allow` [{address, port}] resolved endpoints, `names` the host names they were given by,
 * `stub` {address, port, fingerprint256} of the run's stub service (null between runs: then everything is
 * refused). */
function configure(spec) {
  config = { allow: spec?.allow ?? [], names: spec?.names ?? [], stub: spec?.stub ?? null };
  allowSet = new Set(config.allow.map((entry) => `${normalise(entry.address)}|${entry.port}`));
  namesSet = new Set(config.names.map((name) => String(name).toLowerCase()));
  sentinels = new Map();
  sentinelNames = new Map();
  try {
    workerThreads.setEnvironmentData(ENV_KEY, config);
  } catch {
    // the environment data API is missing: nested workers then refuse everything (no stub is known to them)
  }
}

function setRecorder(fn) {
  recorder = fn;
}

function record(entry) {
  if (recorder) {
    try {
      recorder(entry);
    } catch {
      // recording must never change what the connection does
    }
  }
}

function sentinelFor(name) {
  const key = String(name).toLowerCase();
  let address = sentinels.get(key);
  if (!address) {
    const n = sentinels.size + 1;
    address = `${SENTINEL_BASE[0]}.${SENTINEL_BASE[1]}.${(n >> 8) & 255}.${n & 255}`;
    sentinels.set(key, address);
    sentinelNames.set(address, key);
  }
  return address;
}

function describe(value) {
  if (typeof value === "string" || typeof value === "number") return String(value);
  try {
    return `a ${value === null ? "null" : typeof value} (${Object.prototype.toString.call(value)})`;
  } catch {
    return "an unprintable value";
  }
}

class EgressRefusedError extends Error {
  constructor(target, why) {
    super(`hallsim refused a connection to ${target}: ${why}`);
    this.name = "EgressRefusedError";
    this.code = "HALLSIM_EGRESS_REFUSED";
  }
}

/** allow | stub | a reason to refuse */
function decide(address, port) {
  if (typeof address !== "string" || !Number.isInteger(port)) return "the address is not a resolved IP address and port";
  if (allowSet.has(`${normalise(address)}|${port}`)) return "allow";
  if (config.stub) return "stub";
  return "no run is active, so no stub service can answer";
}

function guardHandleConnect(real) {
  return function connect(req, address, port, ...rest) {
    const verdict = decide(address, port);
    if (verdict === "allow") return real.call(this, req, address, port, ...rest);
    const host = sentinelNames.get(address) ?? (typeof address === "string" ? address : describe(address));
    if (verdict === "stub") {
      const { address: stubAddress, port: stubPort } = config.stub;
      const err = realConnect4.call(this, req, stubAddress, stubPort);
      const local = {};
      if (err === 0) this.getsockname(local);
      record({ via: "connect", host, port, stubbed: true, local_port: local.port ?? null });
      return err;
    }
    record({ via: "connect", host, port, refused: `hallsim refused a connection to ${host}:${describe(port)}: ${verdict}` });
    return EACCES;
  };
}

const realConnect4 = TCP.prototype.connect;

function guardedLookup(real, hostname) {
  return function lookup(name, options, callback) {
    if (typeof options === "function") {
      callback = options;
      options = {};
    }
    const all = Boolean(options && options.all);
    // only the names the run's own endpoints were given by are resolved (by the client's own lookup, if any);
    // the guard then checks the address they resolve to
    if (namesSet.has(String(name).toLowerCase())) return real(name, options, callback);
    const address = sentinelFor(name ?? hostname);
    process.nextTick(() => (all ? callback(null, [{ address, family: 4 }]) : callback(null, address, 4)));
    return undefined;
  };
}

function install() {
  if (installed) return;
  installed = true;
  TCP.prototype.connect = guardHandleConnect(realConnect4);

  // The stub service presents one certificate, signed by the authority the host trusts (stubs/_tls.py), for
  // every name: its chain is verified as any other, and only the name check accepts it, by its fingerprint,
  // in place of the name the client asked for. Every other certificate is checked by Node's own function.
  // tls.connect takes `tls.checkServerIdentity` when it is called (lib/_tls_wrap.js), so https, undici's
  // fetch, http2 and any client without a `checkServerIdentity` of its own get this one.
  const realCheckServerIdentity = tls.checkServerIdentity;
  tls.checkServerIdentity = function checkServerIdentity(hostname, cert) {
    const stub = config.stub;
    if (stub && stub.fingerprint256 && cert && cert.fingerprint256 === stub.fingerprint256) return undefined;
    return realCheckServerIdentity(hostname, cert);
  };
  TCP.prototype.connect6 = guardHandleConnect(TCP.prototype.connect6);

  const pipeConnect = Pipe.prototype.connect;
  Pipe.prototype.connect = function connect(req, path, ...rest) {
    const target = describe(path);
    record({ via: "connect", path: target, refused: `hallsim refused a connection to ${target}: local sockets by path are not allowed` });
    void pipeConnect;
    return EACCES;
  };

  for (const name of ["send", "send6"]) {
    const real = UDP.prototype[name];
    if (typeof real !== "function") continue;
    UDP.prototype[name] = function send(req, list, count, port, address, ...rest) {
      if (typeof address === "string" && allowSet.has(`${normalise(address)}|${port}`)) {
        return real.call(this, req, list, count, port, address, ...rest);
      }
      const target = typeof address === "string" ? `${address}:${port}` : "a connected UDP socket";
      record({ via: "udp", host: typeof address === "string" ? address : null, port: typeof port === "number" ? port : null, refused: `hallsim refused UDP to ${target}: steps may not send UDP` });
      return EACCES;
    };
  }
  for (const name of ["connect", "connect6"]) {
    const real = UDP.prototype[name];
    if (typeof real !== "function") continue;
    UDP.prototype[name] = function connect(address, port, ...rest) {
      if (typeof address === "string" && allowSet.has(`${normalise(address)}|${port}`)) return real.call(this, address, port, ...rest);
      record({ via: "udp", host: describe(address), port: typeof port === "number" ? port : null, refused: `hallsim refused UDP to ${describe(address)}:${describe(port)}: steps may not send UDP` });
      return EACCES;
    };
  }

  // net.Socket#connect: every client's TCP connection passes here before its lookup (net, tls, http, undici)
  const socketConnect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function connect(...args) {
    let options;
    let callback;
    if (Array.isArray(args[0])) [options, callback] = args[0]; // net's own normalised [options, callback]
    else [options, callback] = net._normalizeArgs(args);
    if (options && options.path !== undefined && options.path !== null) {
      const err = new EgressRefusedError(describe(options.path), "local sockets by path are not allowed");
      record({ via: "connect", path: describe(options.path), refused: err.message });
      process.nextTick(() => this.destroy(err));
      return this;
    }
    const host = options?.host;
    if (host !== undefined && host !== null && typeof host !== "string") {
      // a host that is an object (with its own toString) would reach the native connect as a non-string
      const err = new EgressRefusedError(describe(host), "the host is not a string");
      record({ via: "connect", host: describe(host), refused: err.message });
      process.nextTick(() => this.destroy(err));
      return this;
    }
    const guarded = { ...options, lookup: guardedLookup(typeof options?.lookup === "function" ? options.lookup : dns.lookup, host) };
    return callback === undefined ? socketConnect.call(this, guarded) : socketConnect.call(this, guarded, callback);
  };

  process.binding = function binding(name) {
    const module = String(name);
    if (REFUSED_BINDINGS.has(module)) {
      const err = new EgressRefusedError(`process.binding('${module}')`, "raw socket and process bindings are not available to steps");
      record({ via: "binding", host: module, refused: err.message });
      throw err;
    }
    return realBinding.call(process, module);
  };

  // nested workers: a new realm with unguarded bindings unless this file runs first in it
  const RealWorker = workerThreads.Worker;
  class Worker extends RealWorker {
    constructor(filename, options = {}) {
      const execArgv = [...(options?.execArgv ?? process.execArgv), "--require", __filename];
      super(filename, { ...options, execArgv });
    }
  }
  workerThreads.Worker = Worker;
  syncBuiltinESMExports();
}

// loaded by `--require` in a nested worker: take the rule of the run that started it
if (!workerThreads.isMainThread) {
  let inherited;
  try {
    inherited = workerThreads.getEnvironmentData(ENV_KEY);
  } catch {
    inherited = undefined;
  }
  if (inherited !== undefined) {
    install();
    configure(inherited);
  }
}

module.exports = { configure, install, setRecorder, EgressRefusedError, decide };
