// `this` inside a component's run(): its props bound to values, and its methods (pipedream.md "Code steps and
// components": "Prop values and methods are on `this` inside `run`"). Props follow the component API
// (PipedreamHQ/pipedream docs-v2 components/contributing/api.mdx "Props"):
// - an app prop (`{ type: "app", app, propDefinitions, methods }`, the app file's default export) is bound to
//   an app object: the app's methods, bound to it, and `$auth` (here: the local fake auth of the connected
//   account the workflow names, `{authProvisionId}` in a synced workflow.yaml);
// - `propDefinition: [app, name, ...]` takes the app's propDefinitions[name] and overrides it with the
//   prop's own fields (components/filter/actions/common/common.mjs: `condition: { propDefinition: [filter,
//   "condition"] }`);
// - `additionalProps()` runs with `this` holding the props bound so far and returns more props
//   (components/filter/actions/common/common.mjs adds `secondValue` for binary conditions);
// - `default` applies when the workflow gives no value (setting apply_prop_defaults; a default that holds
//   `{{ }}` is evaluated like a value), `options` may be checked (setting check_prop_options);
// - `data_store` props get an in-memory store of the run; `http_request` props get their config with
//   `execute()`.
import { axios as platformAxios } from "./platform.mjs";
import { evaluate } from "./expressions.mjs";

export class ComponentError extends Error {
  constructor(message) {
    super(message);
    this.name = "ComponentError";
  }
}

function optionValues(options) {
  return options.map((option) => (option && typeof option === "object" && "value" in option ? option.value : option));
}

function isApp(definition) {
  return definition && typeof definition === "object" && definition.type === "app";
}

/** The prop's definition with a propDefinition resolved against its app. */
function resolveDefinition(name, raw, where) {
  const definition = typeof raw === "string" ? { type: raw } : { ...(raw ?? {}) };
  if (!Array.isArray(definition.propDefinition)) return definition;
  const [app, key] = definition.propDefinition;
  const base = app?.propDefinitions?.[key];
  if (!base) {
    const known = Object.keys(app?.propDefinitions ?? {}).join(", ") || "none";
    throw new ComponentError(
      `${where}: prop \`${name}\`: propDefinition [${app?.app ?? "?"}, "${key}"] names no propDefinition of ` +
        `app ${app?.app ?? "(not an app)"}; it has: ${known}`,
    );
  }
  const { propDefinition: _, ...own } = definition;
  return { ...base, ...own };
}

/** The app object `this.<appProp>` is: the app's methods bound to it, and `$auth`. */
function appObject(app, given, run, warn, name) {
  let auth = {};
  if (given && typeof given === "object") {
    if (typeof given.authProvisionId === "string") {
      const account = given.authProvisionId;
      if (run.auth && Object.hasOwn(run.auth, account)) auth = run.auth[account];
      else warn(`prop \`${name}\`: connected account ${account} has no local fake auth (auth: in .hallsim.yaml); $auth is {}`);
    } else if (given.$auth && typeof given.$auth === "object") {
      auth = given.$auth;
    }
  }
  const instance = { $auth: auth };
  for (const [method, fn] of Object.entries(app.methods ?? {})) {
    instance[method] = typeof fn === "function" ? fn.bind(instance) : fn;
  }
  return instance;
}

/** A Pipedream data store (docs "Data stores": get, set, has, delete, keys, values, entries, clear, ...),
 * kept for the run; steps that name the same store share it. */
function dataStore(contents) {
  const store = contents;
  return {
    async get(key) {
      return store.has(String(key)) ? structuredClone(store.get(String(key))) : undefined;
    },
    async set(key, value) {
      store.set(String(key), structuredClone(value));
    },
    async setMany(values) {
      for (const [key, value] of Object.entries(values ?? {})) store.set(String(key), structuredClone(value));
    },
    async has(key) {
      return store.has(String(key));
    },
    async delete(key) {
      store.delete(String(key));
    },
    async keys() {
      return [...store.keys()];
    },
    async values() {
      return [...store.values()].map((value) => structuredClone(value));
    },
    async entries() {
      return [...store.entries()].map(([key, value]) => [key, structuredClone(value)]);
    },
    async clear() {
      store.clear();
    },
    async setTtl() {},
  };
}

function storeFor(given, run) {
  const id = (given && typeof given === "object" && (given.storeId ?? given.dataStoreId)) || "default";
  run.stores ??= new Map();
  if (!run.stores.has(id)) run.stores.set(id, new Map(Object.entries(run.data_stores?.[id] ?? {})));
  return dataStore(run.stores.get(id));
}

function pairs(value) {
  // the UI writes headers and params as [{name, value}]; an object is accepted as it is
  if (Array.isArray(value)) return Object.fromEntries(value.filter((p) => p?.name).map((p) => [p.name, p.value]));
  return value && typeof value === "object" ? { ...value } : {};
}

/** An http_request prop: its config, and execute() sending it (UNCONFIRMED shape: the full response as
 * axios gives it, throwing on a non-2xx status as axios does; Pipedream builds it on axios). */
function httpRequest(config) {
  const value = { ...(config ?? {}) };
  value.execute = async function execute() {
    const body = value.body ?? {};
    let data = body.raw;
    if (body.type === "fields" || Array.isArray(body.fields)) data = pairs(body.fields);
    const headers = pairs(value.headers);
    if (body.contentType && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
      headers["Content-Type"] = body.contentType;
    }
    return platformAxios(null, {
      url: value.url,
      method: value.method ?? "GET",
      headers,
      params: pairs(value.params),
      data,
      returnFullResponse: true,
    });
  };
  return value;
}

function bindOne(name, definition, given, has, ctx) {
  const { scope, run, settings, warn, where } = ctx;
  if (isApp(definition)) return appObject(definition, has ? given : undefined, run, warn, name);
  let value;
  if (has) {
    value = evaluate(given, scope, `prop ${name}`);
  } else if (settings.apply_prop_defaults && "default" in definition) {
    // UNCONFIRMED whether the runtime (not only the UI) applies `default`: setting apply_prop_defaults
    value = evaluate(definition.default, scope, `prop ${name} (its default)`);
  } else if (!definition.optional && !["data_store", "http_request", "alert", "$.interface.http"].includes(definition.type)) {
    warn(`prop \`${name}\` is required but was given no value (the Pipedream UI would not deploy this)`);
  }
  if (definition.type === "data_store") return storeFor(value, run);
  if (definition.type === "http_request") return httpRequest(value ?? definition.default);
  if (settings.check_prop_options && Array.isArray(definition.options) && value !== undefined) {
    const allowed = optionValues(definition.options);
    if (!allowed.includes(value)) {
      throw new ComponentError(`${where}: prop \`${name}\`: ${JSON.stringify(value)} is not one of ${JSON.stringify(allowed)}`);
    }
  }
  return value;
}

/** `this` for run(): every declared prop (and additionalProps) bound, then the component's methods. */
export async function componentThis(component, spec, scope, run, warn) {
  const given = spec.props ?? {};
  const where = `step ${spec.name}`;
  const ctx = { scope, run, settings: run.settings, warn, where };
  const self = {};
  const declared = new Set();
  const bindAll = (props) => {
    for (const [name, raw] of Object.entries(props ?? {})) {
      const definition = resolveDefinition(name, raw, where);
      declared.add(name);
      self[name] = bindOne(name, definition, given[name], Object.hasOwn(given, name), ctx);
    }
  };
  bindAll(component.props);
  for (const [name, method] of Object.entries(component.methods ?? {})) self[name] = method;
  if (typeof component.additionalProps === "function") {
    let extra;
    try {
      extra = await component.additionalProps.call(self, {});
    } catch (err) {
      throw new ComponentError(`${where}: additionalProps() threw: ${err?.name}: ${err?.message}`);
    }
    bindAll(extra);
  }
  for (const name of Object.keys(given)) {
    if (!declared.has(name)) {
      warn(`prop \`${name}\` is given in the workflow but the component does not declare it`);
      self[name] = evaluate(given[name], scope, `prop ${name}`);
    }
  }
  return self;
}
