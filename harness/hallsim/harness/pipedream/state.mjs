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

// One object's own properties as first seen, in flat arrays (Reflect.ownKeys order: stable while nobody adds
// or removes a property), so the check after each run compares them in place, without building anything for
// the common case where nothing changed.
function propertyState(object) {
  const keys = Reflect.ownKeys(object);
  const firsts = new Array(keys.length); // the value, or the getter
  const setters = new Array(keys.length);
  const flags = new Uint8Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const d = Object.getOwnPropertyDescriptor(object, keys[i]);
    if ("value" in d) firsts[i] = d.value;
    else {
      firsts[i] = d.get;
      setters[i] = d.set;
    }
    flags[i] = descriptorFlags(d);
  }
  return { keys, firsts, setters, flags };
}

function descriptorFlags(d) {
  // bit 8 tells an accessor from a data property whose value happens to equal the old getter
  return (d.writable ? 1 : 0) | (d.enumerable ? 2 : 0) | (d.configurable ? 4 : 0) | ("value" in d ? 0 : 8);
}

function sameValue(a, b) {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/** Whether property `i` of the state is what `d` (its descriptor now) describes. */
function sameProperty(state, i, d) {
  if (d === undefined || descriptorFlags(d) !== state.flags[i]) return false;
  return "value" in d ? sameValue(d.value, state.firsts[i]) : d.get === state.firsts[i] && d.set === state.setters[i];
}

/** What changed in `object` since `state` was taken, appended to `changes` (at most `limit` in all). */
function compareProperties(object, state, label, noise, changes, limit) {
  const keys = Reflect.ownKeys(object);
  const before = state.keys;
  if (keys.length === before.length) {
    let i = 0;
    for (; i < keys.length; i++) {
      const key = keys[i];
      if (key !== before[i]) break; // a key was removed and another added: the slow path below sorts it out
      if (noise?.has(key) || IGNORED_GLOBALS.has(key)) continue;
      if (!sameProperty(state, i, Object.getOwnPropertyDescriptor(object, key))) {
        changes.push(`${label}${describeKey(key)} replaced`);
        if (changes.length >= limit) return;
      }
    }
    if (i === keys.length) return;
  }
  // keys were added, removed or reordered (delete and add again): compare key by key
  const index = new Map(before.map((key, i) => [key, i]));
  for (const key of keys) {
    if (noise?.has(key) || IGNORED_GLOBALS.has(key)) continue;
    const i = index.get(key);
    if (i === undefined) changes.push(`${label}${describeKey(key)} added`);
    else if (!sameProperty(state, i, Object.getOwnPropertyDescriptor(object, key))) {
      changes.push(`${label}${describeKey(key)} replaced`);
    }
    index.delete(key);
  }
  for (const key of index.keys()) {
    if (!noise?.has(key) && !IGNORED_GLOBALS.has(key)) changes.push(`${label}${describeKey(key)} deleted`);
  }
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
  compareProperties(globalThis, snapshot.globals, "globalThis.", null, changes, limit);
  for (const [object, { label, state, extensible }] of snapshot.objects) {
    if (changes.length >= limit) break;
    if (Object.isExtensible(object) !== extensible) changes.push(`${label} frozen or sealed`);
    compareProperties(object, state, `${label}.`, label === "process" ? PROCESS_NOISE : null, changes, limit);
  }
  for (const [label, { object, state }] of modules) {
    if (changes.length >= limit) break;
    compareProperties(object, state, `${label}.`, null, changes, limit);
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
