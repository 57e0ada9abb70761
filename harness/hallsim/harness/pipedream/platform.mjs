// hallsim's stand-in for `@pipedream/platform`, used when the workflow's own node_modules has no real copy
// (the run says which one it used). It matches the real package, version 3.4.0 (PipedreamHQ/platform
// lib/axios.ts, lib/errors.ts, lib/utils.ts), on what a step can observe; tests/pipedream/test_platform.py
// runs the same probe under both:
// - `axios($, config)` drops headers, params and top-level data keys whose value is undefined; refuses
//   `body` with ConfigurationError("unexpected body, use only data instead") before sending; with `debug:
//   true` exports `debug_config` before and `debug_response` after; returns `response.data`, or the
//   response (status, statusText, headers, config, request, data) with `returnFullResponse`;
// - on an HTTP error status it exports `debug` ({status, statusText, headers, data}) when `$` has a
//   `context`, renames the error "AxiosError - Request failed with status code N", sets its message to the
//   response body as JSON text, and deletes its stack, config and request (the response stays, without
//   its config and request); on a network error it deletes stack, config and request as well;
// - `axios.create(config)`: an instance whose calls return `data` (unless returnFullResponse) and log
//   `export: debug - ...` on an HTTP error, as the real interceptors do;
// - the other named exports. Requests go through the global fetch, so the egress guard and the trace see
//   them. Names the stand-in does not model (the io-ts send configs, the SQL helpers, OAuth signing) are
//   exported and throw a clear error when used.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { Readable } from "node:stream";

// the real package is CommonJS: its ES namespace has this name too
export const __esModule = true;
const PLATFORM_VERSION = "3.4.0";
// axios's own User-Agent, as the real package (axios ^1.15) sends it
const USER_AGENT = "axios/1.21.1";

export class ConfigurationError extends Error {
  constructor(message, exposeStack = false) {
    super(message);
    this.name = "ConfigurationError";
    this.exposeStack = exposeStack;
  }
}

export const DEFAULT_POLLING_SOURCE_TIMER_INTERVAL = 60 * 15;
export const PD_OFFICIAL_GMAIL_OAUTH_CLIENT_ID = "fnd4m13k1mjb6djallp1m9kr7o8kslcu";
export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
export const END_NEEDLE = "__pd_end";
export let $event;
export let $send;

/** lib/index.ts $end: ends a (v1) workflow by throwing an error carrying the end marker. */
export function $end(message) {
  const err = new Error();
  err[END_NEEDLE] = { message, ts: new Date().toISOString() };
  throw err;
}

export function jsonStringifySafe(value, seen) {
  try {
    return JSON.stringify(value);
  } catch {
    seen = new Set(seen || []);
    if (seen.has(value)) return undefined;
    seen.add(value);
    if (typeof value === "object" && value !== null) {
      const parts = [];
      if (Array.isArray(value)) {
        for (const item of value) {
          const text = jsonStringifySafe(item, seen);
          if (text) parts.push(text);
        }
        return `[${parts.join(",")}]`;
      }
      for (const key in value) {
        const text = jsonStringifySafe(value[key], seen);
        if (text) parts.push(`${JSON.stringify(key)}:${text}`);
      }
      return `{${parts.join(",")}}`;
    }
    return undefined;
  }
}

export function cloneSafe(value) {
  const text = jsonStringifySafe(value);
  return text ? JSON.parse(text) : null;
}

function notModelled(name) {
  const message =
    `@pipedream/platform ${name}: not modelled by hallsim's stand-in; install the real package next to the ` +
    `workflow (npm install @pipedream/platform@${PLATFORM_VERSION}) or name one with --set platform_package=DIR`;
  const fail = () => {
    throw new ConfigurationError(message);
  };
  // symbols and `then` read as undefined, so inspecting or awaiting the value does not throw
  return new Proxy(fail, {
    get: (_, key) => (typeof key === "symbol" || key === "then" ? undefined : fail()),
    apply: fail,
  });
}

export const transformConfigForOauth = notModelled("transformConfigForOauth");
export const sqlProp = notModelled("sqlProp");
export const sqlProxy = notModelled("sqlProxy");
export const SendConfigEmail = notModelled("SendConfigEmail");
export const SendConfigEmit = notModelled("SendConfigEmit");
export const SendConfigEmit_optional = notModelled("SendConfigEmit_optional");
export const SendConfigEmit_required = notModelled("SendConfigEmit_required");
export const SendConfigHTTP = notModelled("SendConfigHTTP");
export const SendConfigS3 = notModelled("SendConfigS3");
export const SendConfigSQL = notModelled("SendConfigSQL");
export const SendConfigSSE = notModelled("SendConfigSSE");
export const SendConfigSnowflake = notModelled("SendConfigSnowflake");
export const sendTypeMap = notModelled("sendTypeMap");
export const $sendConfigRuntimeTypeChecker = notModelled("$sendConfigRuntimeTypeChecker");

/** lib/file-stream.ts: a readable stream of a /tmp path or a URL. */
export async function getFileStream(pathOrUrl) {
  return (await getFileStreamAndMetadata(pathOrUrl)).stream;
}

export async function getFileStreamAndMetadata(pathOrUrl) {
  if (/^https?:\/\//i.test(String(pathOrUrl))) {
    const response = await fetch(pathOrUrl);
    if (!response.ok) throw new Error(`Failed to fetch ${pathOrUrl}: ${response.status} ${response.statusText}`);
    const size = Number(response.headers.get("content-length"));
    return {
      stream: Readable.fromWeb(response.body),
      metadata: {
        size: Number.isFinite(size) ? size : undefined,
        contentType: response.headers.get("content-type") ?? undefined,
        name: basename(new URL(pathOrUrl).pathname) || undefined,
      },
    };
  }
  const info = await stat(pathOrUrl);
  return {
    stream: createReadStream(pathOrUrl),
    metadata: { size: info.size, lastModified: info.mtime, name: basename(pathOrUrl) },
  };
}

class AxiosError extends Error {
  constructor(message, code, config, response) {
    super(message);
    this.name = "AxiosError";
    this.code = code;
    this.config = config;
    this.request = {};
    this.isAxiosError = true;
    if (response) {
      this.response = response;
      this.status = response.status;
    }
  }

  toJSON() {
    return {
      message: this.message,
      name: this.name,
      code: this.code,
      status: this.status,
    };
  }
}

function cleanObject(object) {
  if (!object || typeof object !== "object") return;
  for (const key in object) if (typeof object[key] === "undefined") delete object[key];
}

function buildUrl(config) {
  const base = config.baseURL ?? "";
  let url = config.url ?? "";
  if (base && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) url = base.replace(/\/+$/, "") + "/" + url.replace(/^\/+/, "");
  if (config.params && typeof config.params === "object") {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(config.params)) {
      if (value === undefined || value === null) continue;
      query.append(name, typeof value === "object" ? JSON.stringify(value) : String(value));
    }
    const text = query.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  return url;
}

function encodeBody(data, headers) {
  if (data === undefined || data === null) return undefined;
  const has = (name) => Object.keys(headers).some((h) => h.toLowerCase() === name);
  if (typeof data === "string" || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    if (typeof data === "string" && !has("content-type")) headers["Content-Type"] = "application/x-www-form-urlencoded";
    return data;
  }
  if (data instanceof URLSearchParams) {
    if (!has("content-type")) headers["Content-Type"] = "application/x-www-form-urlencoded";
    return data.toString();
  }
  if (!has("content-type")) headers["Content-Type"] = "application/json";
  return JSON.stringify(data);
}

/** A request that got no response, as axios reports it: a timeout is its own AxiosError ("timeout of N ms
 * exceeded", ECONNABORTED); anything else is AxiosError.from(the socket's error), which keeps that error's
 * name, message and code ("Error", "connect ECONNREFUSED 127.0.0.1:3", ECONNREFUSED). */
function networkError(err, config) {
  const timedOut = err?.name === "TimeoutError" || err?.name === "AbortError";
  if (timedOut) {
    const error = new AxiosError(`timeout of ${config.timeout}ms exceeded`, "ECONNABORTED", config);
    error.cause = err;
    return error;
  }
  // fetch wraps the socket's error: TypeError("fetch failed", { cause })
  const cause = err?.cause ?? err;
  const error = new AxiosError(cause?.message ?? String(cause), cause?.code ?? "ERR_NETWORK", config);
  error.name = cause?.name ?? "Error";
  for (const key of ["errno", "syscall", "address", "port"]) if (cause?.[key] !== undefined) error[key] = cause[key];
  error.cause = cause;
  return error;
}

/** One request the way axios makes it: the response, or an AxiosError (not yet sanitised). */
async function send(config) {
  const headers = { Accept: "application/json, text/plain, */*", "User-Agent": USER_AGENT };
  for (const [name, value] of Object.entries(config.headers ?? {})) {
    if (value !== undefined && value !== null && value !== false) headers[name] = String(value);
  }
  const method = String(config.method ?? "get").toUpperCase();
  const url = buildUrl(config);
  const init = { method, headers, body: encodeBody(config.data, headers) };
  if (config.timeout) init.signal = AbortSignal.timeout(config.timeout);
  const started = performance.now();
  let res;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw networkError(err, config);
  }
  const text = await res.text();
  let data = text;
  if (config.responseType !== "text" && text !== "") {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  const response = {
    status: res.status,
    statusText: res.statusText,
    headers: Object.fromEntries(res.headers),
    config,
    request: {},
    data,
    // axios >= 1.13 times each request (the real package's responses have it)
    duration: Math.round(performance.now() - started),
  };
  const valid =
    typeof config.validateStatus === "function" ? config.validateStatus(res.status) : res.status >= 200 && res.status < 300;
  if (!valid) {
    const code = Math.floor(res.status / 100) === 4 ? "ERR_BAD_REQUEST" : "ERR_BAD_RESPONSE";
    throw new AxiosError(`Request failed with status code ${res.status}`, code, config, response);
  }
  return response;
}

/** lib/axios.ts convertAxiosError: the summary to export, and the error stripped of config, request, stack. */
function convertAxiosError(err) {
  let summary;
  if (err.response) {
    summary = {
      status: err.response.status,
      statusText: err.response.statusText,
      headers: err.response.headers,
      data: err.response.data,
    };
    delete err.response.request;
    delete err.response.config;
    err.name = `${err.name} - ${err.message}`;
    try {
      err.message = JSON.stringify(err.response.data);
    } catch (error) {
      console.error("Error trying to convert `err.response.data` to string");
      console.log(error);
    }
  }
  delete err.config;
  delete err.request;
  delete err.stack;
  return summary;
}

function stepExport(step, message, key) {
  message = cloneSafe(message);
  if (step) {
    if (step.export) {
      step.export(key, message);
      return;
    }
    step[key] = message;
  }
  console.log(`export: ${key} - ${JSON.stringify(message, null, 2)}`);
}

function prepare(config) {
  cleanObject(config.headers);
  cleanObject(config.params);
  if (typeof config.data === "object") cleanObject(config.data);
}

export async function axios(step, config = {}) {
  prepare(config);
  if (config.body != null) throw new ConfigurationError("unexpected body, use only data instead");
  try {
    if (config.debug) stepExport(step, config, "debug_config");
    const response = await send(config);
    if (config.debug) stepExport(step, response.data, "debug_response");
    return config.returnFullResponse ? response : response.data;
  } catch (err) {
    // only an error with a response is converted (a network error keeps its stack and config); `debug` is
    // exported only when `$` is a step's $ (it has a context)
    if (err?.isAxiosError && err.response) {
      const summary = convertAxiosError(err);
      if (step?.context) stepExport(step, summary, "debug");
    }
    throw err;
  }
}

function merge(defaults, config) {
  return {
    ...defaults,
    ...config,
    headers: { ...(defaults.headers ?? {}), ...(config?.headers ?? {}) },
    params: defaults.params || config?.params ? { ...(defaults.params ?? {}), ...(config?.params ?? {}) } : undefined,
  };
}

/** lib/axios.ts create: an axios instance with the package's interceptors (no step: exports are logged). */
function create(defaults = {}) {
  if (defaults?.debug) stepExport(undefined, defaults, "debug_config");
  const request = async (config = {}) => {
    const merged = merge(defaults, config);
    prepare(merged);
    // axios's Axios.request gives an error that lost its stack the frames of the call (the instance's
    // interceptor deletes it first), so errors from an instance have a stack of "    at ..." lines only
    const caller = {};
    Error.captureStackTrace(caller, request);
    try {
      const response = await send(merged);
      if (merged.debug) stepExport(undefined, response.data, "debug_response");
      return merged.returnFullResponse ? response : response.data;
    } catch (err) {
      if (err?.isAxiosError && err.response) {
        const summary = convertAxiosError(err);
        stepExport(undefined, summary, "debug");
      }
      if (err?.isAxiosError && err.stack === undefined) err.stack = String(caller.stack).replace(/^[^\n]*\n/, "");
      throw err;
    }
  };
  const instance = (urlOrConfig, config) =>
    typeof urlOrConfig === "string" ? request({ ...(config ?? {}), url: urlOrConfig }) : request(urlOrConfig);
  instance.request = request;
  for (const method of ["get", "delete", "head", "options"]) {
    instance[method] = (url, config) => request({ ...(config ?? {}), method, url });
  }
  for (const method of ["post", "put", "patch"]) {
    instance[method] = (url, data, config) => request({ ...(config ?? {}), method, url, data });
  }
  instance.defaults = defaults;
  return instance;
}

axios.create = create;

export default {
  axios,
  ConfigurationError,
  DEFAULT_POLLING_SOURCE_TIMER_INTERVAL,
  PD_OFFICIAL_GMAIL_OAUTH_CLIENT_ID,
  HTTP_METHODS,
  END_NEEDLE,
  $end,
  cloneSafe,
  jsonStringifySafe,
  getFileStream,
  getFileStreamAndMetadata,
};
