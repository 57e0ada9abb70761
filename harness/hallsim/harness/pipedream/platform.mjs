// A local stand-in for `@pipedream/platform` (pipedream.md "Code steps and components"): `axios($, config)`
// returns `response.data` unless `returnFullResponse`; on an HTTP error it does `$.export("debug", ...)` with
// the response and rethrows. Requests go through the global fetch, so the egress guard and the trace see them.

export class ConfigurationError extends Error {
  constructor(message) {
    super(message);
    this.name = "ConfigurationError";
  }
}

export const DEFAULT_POLLING_SOURCE_TIMER_INTERVAL = 15 * 60;

class AxiosError extends Error {
  constructor(message, code, config, response) {
    super(message);
    this.name = "AxiosError";
    this.code = code;
    this.config = config;
    if (response) {
      this.response = response;
      this.status = response.status;
    }
  }
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
  if (typeof data === "string" || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data;
  if (data instanceof URLSearchParams) {
    if (!has("content-type")) headers["Content-Type"] = "application/x-www-form-urlencoded";
    return data.toString();
  }
  if (!has("content-type")) headers["Content-Type"] = "application/json";
  return JSON.stringify(data);
}

export async function axios(step, config = {}) {
  const headers = { Accept: "application/json, text/plain, */*", ...(config.headers ?? {}) };
  const method = String(config.method ?? "get").toUpperCase();
  const url = buildUrl(config);
  const init = { method, headers, body: encodeBody(config.data, headers) };
  if (config.timeout) init.signal = AbortSignal.timeout(config.timeout);
  let res;
  try {
    res = await fetch(url, init);
  } catch (err) {
    const timedOut = err?.name === "TimeoutError" || err?.name === "AbortError";
    const cause = err?.cause;
    const error = new AxiosError(
      timedOut ? `timeout of ${config.timeout}ms exceeded` : cause?.message ?? err?.message ?? String(err),
      timedOut ? "ECONNABORTED" : cause?.code ?? "ERR_NETWORK",
      config,
    );
    error.cause = err;
    throw error;
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
    data,
    config: { method, url },
  };
  const valid = typeof config.validateStatus === "function" ? config.validateStatus(res.status) : res.status >= 200 && res.status < 300;
  if (!valid) {
    const error = new AxiosError(
      `Request failed with status code ${res.status}`,
      res.status >= 500 ? "ERR_BAD_RESPONSE" : "ERR_BAD_REQUEST",
      config,
      response,
    );
    if (step && typeof step.export === "function") {
      step.export("debug", { status: response.status, statusText: response.statusText, headers: response.headers, data });
    }
    throw error;
  }
  return config.returnFullResponse ? response : data;
}

export default { axios, ConfigurationError, DEFAULT_POLLING_SOURCE_TIMER_INTERVAL };
