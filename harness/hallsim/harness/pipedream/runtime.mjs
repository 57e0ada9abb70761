// One workflow execution, with Pipedream's semantics (rules cited from ../shared/reference/pipedream.md).
// Everything the run does is reported as it happens through `emit`, so the host keeps what was recorded
// even when it has to terminate this worker (a busy loop, process.exit).
import { format, inspect } from "node:util";
import { killChildren } from "./processes.mjs";
import { cancelPendingTimers, configureClock, real } from "./clock.mjs";
import { configureEgress, inflightRequests } from "./egress.mjs";
import { createLoader } from "./modules.mjs";
import { runRegistryFilter, runRuleBuilderFilter } from "./filters.mjs";
import { makeDollar, serialiseError, StepState } from "./dollar.mjs";
import { ComponentError, componentThis } from "./components.mjs";
import { evaluate } from "./expressions.mjs";

const TIMEOUT = Symbol("timeout");
let current = null; // the StepState receiving console output and uncaught errors
let strayErrors = 0; // errors thrown by work a step left behind, after it finished

export function installStepCapture() {
  for (const level of ["log", "info", "warn", "error", "debug", "trace"]) {
    console[level] = (...args) => current?.log(level, format(...args));
  }
  console.dir = (value, options) => current?.log("log", inspect(value, options));
  // pipedream.md "Errors and time": an error in a step stops it; an error thrown from a callback the step
  // left behind fails that step the same way
  const failCurrent = (err) => {
    if (current) current.fail(err);
    else strayErrors += 1;
  };
  process.on("uncaughtException", failCurrent);
  process.on("unhandledRejection", failCurrent);
}

// what Node reports as active in an idle worker between runs: its message port, pooled sockets being dropped,
// and timers (a step's own timers are cancelled when the run ends; Node's fetch keeps some of its own)
const IDLE_RESOURCES = new Set(["MessagePort", "TCPSocketWrap", "Immediate", "Timeout"]);
const RESOURCE_NAMES = {
  FSReqPromise: "file operation",
  FSReqCallback: "file operation",
  FileHandle: "open file",
  ProcessWrap: "child process",
  PipeWrap: "pipe",
  TCPServerWrap: "listening server",
  UDPWrap: "UDP socket",
  GetAddrInfoReqWrap: "DNS lookup",
  FSEventWrap: "file watcher",
  StatWatcher: "file watcher",
};

/** Work still pending that the timer and HTTP tracking do not see (files, child processes, servers, ...):
 * it would go on into the next run of this worker. */
export function lingeringWork() {
  const counts = new Map();
  for (const type of process.getActiveResourcesInfo()) {
    if (IDLE_RESOURCES.has(type)) continue;
    const name = RESOURCE_NAMES[type] ?? type;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].map(([name, count]) => `${count} ${name}(s)`);
}

/** How many errors came from work left running after its step finished (since the last call). */
export function takeStrayErrors() {
  const count = strayErrors;
  strayErrors = 0;
  return count;
}

function setEnv(values) {
  // set before every step: most often it holds these values already (process.env keeps strings only and
  // refuses getters, so equal names and values leave nothing else behind)
  const env = process.env;
  const names = Object.keys(env);
  const wanted = Object.keys(values);
  if (names.length === wanted.length && wanted.every((name) => env[name] === String(values[name]))) return;
  for (const name of names) delete env[name];
  Object.assign(env, values);
}

function checkComponent(component, spec) {
  if (!component || typeof component !== "object" || typeof component.run !== "function") {
    const what = component === undefined ? "no default export" : `a default export of type ${typeof component}`;
    throw new ComponentError(
      `step ${spec.name}: ${what}; expected \`export default defineComponent({ async run({ steps, $ }) {...} })\`` +
        " or a published action `export default { type: \"action\", props, async run({ $ }) {...} }`",
    );
  }
}

// --- the run ------------------------------------------------------------------------------------------

function stepEnv(spec, run) {
  // pipedream.md "Environment variables": published actions do not see workspace or project variables
  if (spec.kind === "action" && run.settings.action_env === "none") return {};
  return run.env;
}

async function executeStep(state, component, spec, run, steps) {
  const scope = { steps, env: run.env };
  const $ = makeDollar(state, run);
  if (spec.kind === "filter") {
    const config = evaluate(spec.filter, scope, "filter");
    if (config.kind === "registry") return runRegistryFilter(config, $);
    return runRuleBuilderFilter(config, $);
  }
  const self = await componentThis(component, spec, scope, run, (text) => state.warn(text));
  setEnv(stepEnv(spec, run));
  return component.run.call(self, { steps, $ });
}

function race(promise, ...others) {
  return Promise.race([promise, ...others]);
}

export async function runWorkflow(run, emit) {
  const settings = run.settings;
  configureClock(settings);
  configureEgress(run.egress, (entry) => emit({ t: "http", step: current?.index ?? null, entry }));
  const started = performance.now();
  run.started_at = Date.now();
  // `since`: when the run began, on a clock the host shares (the host may read this event only later)
  emit({ t: "run_start", at: run.started_at, since: performance.timeOrigin + started });
  const clock = modelledClock(settings);
  let timer;
  const timedOut = new Promise((resolve) => {
    // pipedream.md "Errors and time": the execution timeout, on the modelled clock. Checked when the whole
    // budget could have gone by in waiting, then again for what is left; each check tells the host the
    // worker's event loop still answers (a loop kept busy never checks, and the host ends it).
    const check = () => {
      const left = settings.timeout_ms - clock.modelledMs();
      if (left <= 0) return resolve(TIMEOUT);
      emit({ t: "alive" });
      timer = real.setTimeout(check, Math.max(1, left * settings.time_scale));
    };
    timer = real.setTimeout(check, settings.timeout_ms * settings.time_scale);
  });
  const steps = { trigger: run.trigger };
  let outcome = "completed";
  let virtualMs = 0;
  const components = [];
  try {
    // every step's module is imported before the first step runs, as a deployed workflow would be
    const loader = createLoader({ platformModule: run.platform_module ?? null });
    for (let i = 0; i < run.steps.length; i++) {
      const spec = run.steps[i];
      if (spec.kind === "filter") continue;
      const state = new StepState(i, spec, emit);
      current = state;
      emit({ t: "load", step: i });
      setEnv(stepEnv(spec, run));
      try {
        const namespace = await race(loader.load(spec), state.failed, timedOut);
        if (namespace === TIMEOUT) throw TIMEOUT;
        components[i] = namespace.default;
        checkComponent(components[i], spec);
      } catch (err) {
        emit({ t: "step_start", step: i });
        if (err === TIMEOUT) {
          state.finish("timeout", { error: timeoutError(settings) });
          outcome = "timed_out";
        } else {
          state.finish("error", { error: serialiseError(err) });
          outcome = "errored";
        }
        return;
      }
    }
    for (let i = 0; i < run.steps.length; i++) {
      const spec = run.steps[i];
      let attempt = 1;
      let rerun;
      let state;
      do {
        state = new StepState(i, spec, emit, attempt, rerun?.context);
        current = state;
        emit({ t: "step_start", step: i, attempt });
        const stepStarted = performance.now();
        let result;
        let thrown = null; // { value }: anything can be thrown, undefined and null included
        try {
          result = await race(executeStep(state, components[i], spec, run, steps), state.failed, timedOut);
        } catch (err) {
          thrown = { value: err };
        }
        const wallMs = performance.now() - stepStarted;
        if (result === TIMEOUT) {
          // pipedream.md "Errors and time": a timeout raises a Timeout error on the running step
          state.finish("timeout", { error: timeoutError(settings), wallMs });
          outcome = "timed_out";
          return;
        }
        const end = state.settle(result, thrown, wallMs, settings);
        virtualMs += state.virtualMs;
        if (end.status === "error") {
          outcome = "errored";
          return;
        }
        rerun = state.rerun;
        if (rerun && end.status !== "exited") {
          if (attempt <= rerun.maxRetries) {
            // the execution pauses for the rerun's delay (modelled time, no wall time) and runs the step again
            virtualMs += rerun.delay;
            attempt += 1;
            continue;
          }
          state.warn(
            `$.flow.rerun on run ${attempt}: beyond maxRetries ${rerun.maxRetries}, the step is not run again ` +
              "and the workflow goes on (docs code/nodejs/rerun.mdx)",
          );
        }
        if (end.status === "exited") {
          // pipedream.md "The $ object": the workflow ends after the step that called $.flow.exit
          outcome = "exited";
          return;
        }
        steps[spec.name] = end.downstream;
        break;
      } while (true);
    }
  } finally {
    current = null;
    real.clearTimeout(timer);
    // pipedream.md "Errors and time": work left running after run resolves only gives a warning
    const timers = cancelPendingTimers();
    const inflight = inflightRequests();
    const parts = [timers && `${timers} timer(s)`, inflight && `${inflight} HTTP request(s)`, ...lingeringWork()];
    killChildren();
    if (parts.some(Boolean)) {
      const text = `work left running when the execution ended: ${parts.filter(Boolean).join(", ")}; stopped`;
      emit({ t: "warning", step: null, text });
    }
    const wallMs = performance.now() - started;
    emit({
      t: "run_end",
      outcome,
      wall_ms: wallMs,
      modelled_ms: clock.modelledMs() + virtualMs,
    });
  }
}

// The run's modelled time: time the event loop spent waiting (timers, answers from the Hall and the sink)
// is scaled up by 1 / time_scale, as every wait of the run is scaled down; time it spent running code (module
// loading, the steps' own work) counts as it is, since that work would take the same time on Pipedream. Scaling
// that too made a good run time out on a loaded machine: 3 ms of compile became 300 ms of modelled time.
function modelledClock(settings) {
  const start = performance.eventLoopUtilization();
  return {
    modelledMs() {
      const { active, idle } = performance.eventLoopUtilization(start);
      return active + idle / settings.time_scale;
    },
  };
}

function timeoutError(settings) {
  const seconds = settings.timeout_ms / 1000;
  const wall = (settings.timeout_ms * settings.time_scale) / 1000;
  return {
    name: "TimeoutError",
    message:
      `Timeout: the execution exceeded the workflow timeout of ${seconds} s ` +
      `(modelled; ${wall.toFixed(3)} s of wall time at time_scale ${settings.time_scale})`,
    stack: null,
  };
}
