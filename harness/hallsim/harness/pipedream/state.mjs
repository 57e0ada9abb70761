// Is this worker still as clean as when it started? A worker thread is reused for the next run only if the
// run left no trace in the realm: no new or replaced global, no changed built-in object or prototype, no new
// process listener. Otherwise the host retires it and the next run gets a fresh one.

// fetch's connection pool (replaced after every run by egress.mjs dropConnections)
const IGNORED_GLOBALS = {
  has: (key) => typeof key === "symbol" && String(key.description).startsWith("undici."),
};

function describeKey(key) {
  return typeof key === "symbol" ? key.toString() : key;
}

function propertyState(object) {
  const state = new Map();
  for (const key of Reflect.ownKeys(object)) {
    const d = Object.getOwnPropertyDescriptor(object, key);
    const flags = (d.writable ? 1 : 0) | (d.enumerable ? 2 : 0) | (d.configurable ? 4 : 0);
    state.set(key, "value" in d ? [d.value, undefined, flags] : [d.get, d.set, flags]);
  }
  return state;
}

function sameState(a, b) {
  return (a[0] === b[0] || (Number.isNaN(a[0]) && Number.isNaN(b[0]))) && a[1] === b[1] && a[2] === b[2];
}

function watchedObjects() {
  const objects = new Map(); // object -> label
  const add = (value, label) => {
    if ((typeof value === "object" && value !== null) || typeof value === "function") {
      if (!objects.has(value)) objects.set(value, label);
    }
  };
  for (const key of Reflect.ownKeys(globalThis)) {
    if (IGNORED_GLOBALS.has(key)) continue;
    const d = Object.getOwnPropertyDescriptor(globalThis, key);
    if (!("value" in d)) continue; // a lazy getter: do not trigger it
    const label = describeKey(key);
    add(d.value, label);
    if (typeof d.value === "function" && d.value.prototype) add(d.value.prototype, `${label}.prototype`);
  }
  // intrinsics that no global names directly
  add(Object.getPrototypeOf(function* () {}), "GeneratorFunction.prototype");
  add(Object.getPrototypeOf(async function () {}), "AsyncFunction.prototype");
  add(Object.getPrototypeOf([][Symbol.iterator]()), "ArrayIterator.prototype");
  objects.delete(process.env); // reset between steps by the runtime
  objects.delete(globalThis);
  return objects;
}

// modules steps imported in this worker (`node:http`, the @pipedream/platform stand-in, ...): their exports,
// and the prototypes of the classes they export, as first seen
const modules = new Map(); // label -> { object, state }

/** Watch a module's exports from its first import on, before any step code touches it. */
export function watchModule(label, object) {
  if (!object || modules.has(label)) return;
  modules.set(label, { object, state: propertyState(object) });
  for (const [name, value] of Object.entries(object)) {
    const prototype = typeof value === "function" ? value.prototype : undefined;
    if (prototype && typeof prototype === "object") {
      modules.set(`${label}.${name}.prototype`, { object: prototype, state: propertyState(prototype) });
    }
  }
}

export function snapshotRealm() {
  const objects = new Map();
  for (const [object, label] of watchedObjects()) {
    objects.set(object, { label, state: propertyState(object), extensible: Object.isExtensible(object) });
  }
  return {
    globals: propertyState(globalThis),
    objects,
    listeners: listenerCounts(),
  };
}

function listenerCounts() {
  const counts = new Map();
  for (const name of process.eventNames()) counts.set(name, process.listenerCount(name));
  return counts;
}

const PROCESS_NOISE = new Set(["_events", "_eventsCount", "exitCode"]);

/** What the run changed in the realm, as short descriptions; empty when the worker is still clean. */
export function realmChanges(snapshot, limit = 5) {
  const changes = [];
  const diff = (before, after, label, noise) => {
    for (const [key, value] of after) {
      if (noise?.has(key) || IGNORED_GLOBALS.has(key)) continue;
      if (!before.has(key)) changes.push(`${label}${describeKey(key)} added`);
      else if (!sameState(before.get(key), value)) changes.push(`${label}${describeKey(key)} replaced`);
    }
    for (const key of before.keys()) if (!after.has(key)) changes.push(`${label}${describeKey(key)} deleted`);
  };
  diff(snapshot.globals, propertyState(globalThis), "globalThis.");
  for (const [object, { label, state, extensible }] of snapshot.objects) {
    if (changes.length >= limit) break;
    if (Object.isExtensible(object) !== extensible) changes.push(`${label} frozen or sealed`);
    diff(state, propertyState(object), `${label}.`, label === "process" ? PROCESS_NOISE : null);
  }
  for (const [label, { object, state }] of modules) {
    if (changes.length >= limit) break;
    diff(state, propertyState(object), `${label}.`, null);
  }
  const listeners = listenerCounts();
  for (const [name, count] of listeners) {
    if ((snapshot.listeners.get(name) ?? 0) !== count) changes.push(`process listeners for '${String(name)}' changed`);
  }
  for (const name of snapshot.listeners.keys()) {
    if (!listeners.has(name)) changes.push(`process listeners for '${String(name)}' removed`);
  }
  return changes.slice(0, limit);
}
