// The `$` object a step receives, and the record of one step's execution (pipedream.md "The $ object").
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

// hallsim's own runtime files: their frames are not the user's code
const RUNTIME_DIR = dirname(fileURLToPath(import.meta.url));
const FRAME = /(?:\(|at )(?:file:\/\/)?(\/[^():]+):(\d+):(\d+)\)?\s*$/;

const MAX_LOG_LINES = 200;
const MAX_DELAY_MS = 365 * 24 * 60 * 60 * 1000;
const MAX_TEXT = 8000;

class ExportError extends Error {
  constructor(message) {
    super(message);
    this.name = "ExportError";
  }
}

function clip(text) {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}... (${text.length - MAX_TEXT} more characters)` : text;
}

/** A JSON-safe copy of a value for the trace (what would not serialise is shown as a string). */
export function jsonable(value) {
  try {
    const json = JSON.stringify(value);
    return json === undefined ? null : JSON.parse(json);
  } catch {
    return String(value);
  }
}

function sourceLine(file, line) {
  try {
    return readFileSync(file, "utf8").split(/\r?\n/)[line - 1] ?? null;
  } catch {
    return null;
  }
}

/** Where in the user's own code an error was raised (as `node --check` and Node's own reports show it):
 * the first stack frame outside hallsim's runtime and Node's internals (a syntax error's position is found
 * after the run, see _errors.py). */
export function userLocation(err) {
  if (typeof err?.stack !== "string") return null;
  for (const text of err.stack.split("\n").slice(1)) {
    const match = FRAME.exec(text.trim());
    if (!match) continue;
    const file = decodeURIComponent(match[1]);
    if (file.startsWith(RUNTIME_DIR + "/")) continue;
    const line = Number(match[2]);
    return { file, line, column: Number(match[3]), code: sourceLine(file, line) };
  }
  return null;
}

export function serialiseError(err, depth = 0) {
  if (err instanceof Error || (err && typeof err === "object" && "message" in err && "stack" in err)) {
    const out = {
      name: String(err.name ?? "Error"),
      message: clip(String(err.message ?? "")),
      stack: typeof err.stack === "string" ? clip(err.stack) : null,
    };
    const location = err.hallsimSyntax ? null : userLocation(err);
    if (location) out.location = location;
    if (err.hallsimSyntax) out.syntax = err.hallsimSyntax;
    if (err.code !== undefined) out.code = String(err.code);
    if (err.cause !== undefined && depth < 3) out.cause = serialiseError(err.cause, depth + 1);
    return out;
  }
  // pipedream.md "Errors and time": whatever is thrown stops the workflow, an Error or anything else
  const type = err === null ? "null" : Array.isArray(err) ? "array" : typeof err;
  let message;
  try {
    message = typeof err === "string" ? err : JSON.stringify(err) ?? String(err);
  } catch {
    message = String(err);
  }
  return { name: `non-Error thrown (${type})`, message: clip(message), stack: null, non_error: true };
}

export class StepState {
  constructor(index, spec, emit, attempt = 1, rerunContext = undefined) {
    this.index = index;
    this.spec = spec;
    this.emit = emit;
    this.attempt = attempt;
    this.rerunContext = rerunContext;
    this.exports = new Map(); // name -> JSON text
    this.exportProblem = null;
    this.exited = false;
    this.exitReason = undefined;
    this.virtualMs = 0;
    this.rerun = null;
    this.suspend = null;
    this.closed = false;
    this.lines = 0;
    this.failed = new Promise((_, reject) => {
      this.fail = reject;
    });
    this.failed.catch(() => {});
  }

  log(level, text) {
    if (this.closed) return;
    this.lines += 1;
    if (this.lines > MAX_LOG_LINES) {
      if (this.lines === MAX_LOG_LINES + 1) this.emit({ t: "log", step: this.index, level: "warn", text: "(further log lines dropped)" });
      return;
    }
    this.emit({ t: "log", step: this.index, level, text: clip(text) });
  }

  warn(text) {
    this.emit({ t: "warning", step: this.index, text });
  }

  exportValue(name, value, settings) {
    name = String(name);
    if (this.closed) {
      this.warn(`$.export('${name}') called after the step finished: ignored`);
      return;
    }
    if (this.exports.has(name)) {
      // UNCONFIRMED (pipedream.md "The $ object"): the harness keeps the last value
      this.warn(`$.export('${name}') called more than once: the last value is kept (UNCONFIRMED)`);
    }
    let json;
    try {
      json = JSON.stringify(value);
    } catch (err) {
      const problem = `$.export('${name}', ...): the value cannot be serialised to JSON (${err.message})`;
      if (settings.unserialisable_export === "error") {
        this.exportProblem ??= new ExportError(`${problem}; exports must be JSON-serialisable`);
        this.warn(`${problem}: the step fails (setting unserialisable_export=error, UNCONFIRMED)`);
      } else {
        this.warn(`${problem}: dropped (setting unserialisable_export=drop, UNCONFIRMED)`);
      }
      this.exports.delete(name);
      this.emit({ t: "export", step: this.index, name, absent: true });
      return;
    }
    if (json === undefined) {
      const what = typeof value === "undefined" ? "undefined" : `a ${typeof value}`;
      if (settings.export_undefined === "null") {
        json = "null";
        this.warn(`$.export('${name}', ${what}): recorded as null (setting export_undefined=null, UNCONFIRMED)`);
      } else {
        // UNCONFIRMED (pipedream.md "The $ object"): undefined is recorded as absent, the key is missing downstream
        this.warn(`$.export('${name}', ${what}): recorded as absent, steps.${this.spec.name}.${name} is undefined downstream (UNCONFIRMED)`);
        this.exports.delete(name);
        this.emit({ t: "export", step: this.index, name, absent: true });
        return;
      }
    }
    this.exports.set(name, json);
    this.emit({ t: "export", step: this.index, name, json });
  }

  finish(status, { error = null, wallMs = null, returnJson, virtualMs = 0 } = {}) {
    this.closed = true;
    this.emit({
      t: "step_end",
      step: this.index,
      attempt: this.attempt,
      status,
      error,
      exited: this.exited,
      exit_reason: this.exited ? jsonable(this.exitReason) : null,
      return_json: returnJson,
      wall_ms: wallMs,
      virtual_ms: virtualMs,
    });
  }

  /** The step's run() settled (or threw): decide its status and what later steps see of it. */
  settle(result, thrown, wallMs, settings) {
    let returnJson;
    if (thrown === null) {
      try {
        returnJson = JSON.stringify(result);
      } catch (err) {
        const problem = `the step's return value cannot be serialised to JSON (${err.message})`;
        if (settings.unserialisable_export === "error") {
          this.exportProblem ??= new ExportError(problem);
          this.warn(`${problem}: the step fails (setting unserialisable_export=error, UNCONFIRMED)`);
        } else {
          this.warn(`${problem}: dropped (setting unserialisable_export=drop, UNCONFIRMED)`);
        }
      }
    }
    let status = this.exited ? "exited" : "success";
    let failure = thrown;
    if (failure === null && this.exportProblem) failure = { value: this.exportProblem };
    if (failure !== null) status = "error";
    this.finish(status, {
      error: failure === null ? null : serialiseError(failure.value),
      wallMs,
      returnJson,
      virtualMs: this.virtualMs,
    });
    // pipedream.md "The steps object": exports are steps.<name>.<key>, the return value $return_value
    const downstream = {};
    for (const [name, json] of this.exports) downstream[name] = JSON.parse(json);
    if (returnJson !== undefined) downstream.$return_value = JSON.parse(returnJson);
    return { status, downstream };
  }
}

function resumeUrls(kind) {
  const id = randomUUID();
  return {
    resume_url: `https://hallsim.invalid/${kind}/${id}/resume`,
    cancel_url: `https://hallsim.invalid/${kind}/${id}/cancel`,
  };
}

export function makeDollar(state, run) {
  const settings = run.settings;
  const flow = (action, details = {}) => state.emit({ t: "flow", step: state.index, action, ...details });
  const sender = (channel) => (config) => {
    const request = jsonable(config) ?? {};
    if (channel === "http") request.method = String(config?.method ?? "GET").toUpperCase();
    flow(`send.${channel}`, { request });
  };
  return {
    export: (name, value) => state.exportValue(name, value, settings),
    flow: {
      // pipedream.md "The $ object": $.flow.exit does NOT throw; the step keeps running, the workflow ends after it
      exit(reason) {
        if (state.exited) state.warn("$.flow.exit called more than once: the last reason is kept");
        state.exited = true;
        state.exitReason = reason;
        flow("exit", { reason: jsonable(reason) });
      },
      // docs code/nodejs/delay.mdx, control-flow/delay.mdx: the execution pauses at the end of the step and
      // resumes after `ms` ("as little as one millisecond, or as long as one year"); a paused execution is not
      // running, so the delay costs no wall time and does not count against the execution timeout
      delay(ms) {
        let delay = Number(ms);
        if (!Number.isFinite(delay) || delay < 0) {
          state.warn(`$.flow.delay(${JSON.stringify(ms)}): not a number of milliseconds; no delay`);
          delay = 0;
        } else if (delay > MAX_DELAY_MS) {
          state.warn(`$.flow.delay(${delay}): longer than Pipedream's maximum of one year; capped`);
          delay = MAX_DELAY_MS;
        }
        state.virtualMs += delay;
        flow("delay", { ms: delay, note: `paused, resumed after ${delay} ms of modelled time` });
        return resumeUrls("delay");
      },
      // docs code/nodejs/rerun.mdx: suspend pauses at the end of the step until someone calls resume_url or
      // cancel_url, or the timeout passes; offline nobody can, so setting suspend_outcome decides (UNCONFIRMED)
      suspend(ms) {
        const timeout = ms === undefined || ms === null ? null : Number(ms);
        state.suspend = { timeout_ms: timeout };
        const outcome = settings.suspend_outcome;
        flow("suspend", { ms: timeout, outcome, note: `setting suspend_outcome=${outcome} (UNCONFIRMED)` });
        if (outcome === "timeout" && timeout !== null && Number.isFinite(timeout)) state.virtualMs += timeout;
        if (outcome !== "resume") {
          // a cancelled or timed-out suspension ends the execution after this step, no later step runs
          state.exited = true;
          state.exitReason = `suspended execution ${outcome === "cancel" ? "cancelled" : "timed out"} (setting suspend_outcome=${outcome})`;
        }
        return resumeUrls("suspend");
      },
      // docs code/nodejs/rerun.mdx: the step runs again after `delay` ms, up to maxRetries times (default 10),
      // with `context` as $.context.run.context and $.context.run.runs counting the runs
      rerun(delay, context, maxRetries = 10) {
        const ms = Number(delay) || 0;
        state.rerun = { delay: ms, context: jsonable(context), maxRetries: Number(maxRetries) };
        flow("rerun", { ms, max_retries: Number(maxRetries), attempt: state.attempt });
        return resumeUrls("rerun");
      },
      // recorded only: what it would start happens outside this execution
      trigger(...args) {
        flow("trigger", { args: jsonable(args) });
      },
    },
    respond(response) {
      flow("respond", { response: jsonable(response) });
      return Promise.resolve();
    },
    send: {
      http: sender("http"),
      email: sender("email"),
      emit: sender("emit"),
      s3: sender("s3"),
      sse: sender("sse"),
    },
    context: {
      id: run.trigger.context?.id ?? null,
      ts: run.trigger.context?.ts ?? null,
      deadline: run.started_at + settings.timeout_ms,
      JIT: false,
      run: { runs: state.attempt, context: state.rerunContext },
    },
  };
}
