// Scaled time for steps: a step's timers run `time_scale` times faster, so a modelled 30 s wait costs
// 0.3 s of wall time at scale 0.01, the same scale the Hall emulator uses for its delays.
// Our own runtime keeps the real timers (exported below); only the step-visible globals are replaced.
import timers from "node:timers";
import timersPromises from "node:timers/promises";

export const real = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
  setImmediate: globalThis.setImmediate,
  clearImmediate: globalThis.clearImmediate,
  abortSignalTimeout: AbortSignal.timeout.bind(AbortSignal),
};

let scale = 1;
let scaleTimers = true;
// timers a step started that have not fired or been cleared: "work left running" when the run ends
const pending = new Set();

export function configureClock({ time_scale, scale_timers }) {
  scale = time_scale;
  scaleTimers = scale_timers;
}

export function wallMs(modelledMs) {
  const ms = Number(modelledMs);
  if (!Number.isFinite(ms) || ms < 0) return 0;
  return scaleTimers ? ms * scale : ms;
}

function find(handle) {
  if (pending.has(handle)) return handle;
  if (typeof handle === "number" || typeof handle === "string") {
    for (const h of pending) if (Number(h) === Number(handle)) return h;
  }
  return undefined;
}

// Node's bundled undici (fetch) calls the global timers too; those keep real time and are not the step's
// "work left running". Tell them apart by the caller's frame.
function calledByNode(wrapper) {
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  let frames;
  try {
    // the caller's frame as an object: formatting the stack as text cost more than capturing it
    Error.stackTraceLimit = 1;
    Error.prepareStackTrace = (_, callSites) => callSites;
    const holder = {};
    Error.captureStackTrace(holder, wrapper);
    frames = holder.stack; // read before prepareStackTrace is put back: V8 formats the stack on first read
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = limit;
  }
  const file = Array.isArray(frames) ? frames[0]?.getFileName?.() : undefined;
  return typeof file === "string" && file.startsWith("node:");
}

export function installScaledTimers() {
  globalThis.setTimeout = function setTimeout(callback, ms, ...args) {
    if (calledByNode(setTimeout)) return real.setTimeout(callback, ms, ...args);
    const handle = real.setTimeout(
      (...a) => {
        pending.delete(handle);
        callback(...a);
      },
      wallMs(ms),
      ...args,
    );
    pending.add(handle);
    return handle;
  };
  globalThis.clearTimeout = function clearTimeout(handle) {
    const h = find(handle);
    if (h !== undefined) pending.delete(h);
    real.clearTimeout(h ?? handle);
  };
  globalThis.setInterval = function setInterval(callback, ms, ...args) {
    if (calledByNode(setInterval)) return real.setInterval(callback, ms, ...args);
    const handle = real.setInterval(callback, wallMs(ms), ...args);
    pending.add(handle);
    return handle;
  };
  globalThis.clearInterval = function clearInterval(handle) {
    const h = find(handle);
    if (h !== undefined) pending.delete(h);
    real.clearInterval(h ?? handle);
  };
  globalThis.setImmediate = function setImmediate(callback, ...args) {
    if (calledByNode(setImmediate)) return real.setImmediate(callback, ...args);
    const handle = real.setImmediate((...a) => {
      pending.delete(handle);
      callback(...a);
    }, ...args);
    pending.add(handle);
    return handle;
  };
  globalThis.clearImmediate = function clearImmediate(handle) {
    pending.delete(handle);
    real.clearImmediate(handle);
  };
  AbortSignal.timeout = function timeout(ms) {
    return real.abortSignalTimeout(wallMs(ms));
  };
}

/** `node:timers/promises` as a step sees it: the waits are scaled like the global timers. */
export const scaledTimersPromises = {
  ...timersPromises,
  setTimeout(ms, value, options) {
    return timersPromises.setTimeout(wallMs(ms), value, options);
  },
  setInterval(ms, value, options) {
    return timersPromises.setInterval(wallMs(ms), value, options);
  },
  scheduler: {
    wait: (ms, options) => timersPromises.scheduler.wait(wallMs(ms), options),
    yield: () => timersPromises.scheduler.yield(),
  },
};
scaledTimersPromises.default = scaledTimersPromises;

/** `node:timers` as a step sees it: the global timers above (scaled, and cancelled when the run ends). */
export const scaledTimers = { ...timers, promises: scaledTimersPromises };
for (const name of ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "clearImmediate"]) {
  scaledTimers[name] = (...args) => globalThis[name](...args);
}
scaledTimers.default = scaledTimers;

/** How many step timers are still pending; cancels them (the run is over). */
export function cancelPendingTimers() {
  const count = pending.size;
  for (const handle of pending) {
    real.clearTimeout(handle);
    real.clearInterval(handle);
    real.clearImmediate(handle);
  }
  pending.clear();
  return count;
}
