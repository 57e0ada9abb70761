// The Node host: one long-lived process that hallsim drives over JSON lines (stdin: requests, stdout:
// answers). Each run executes in a worker thread (worker.mjs); a clean worker is reused, a dirty or hostile
// one is terminated, and a spare is kept warm so a fresh worker is ready when one is needed. The host never
// runs step code itself, so a busy loop or process.exit in a step cannot stop it from answering.
import { Worker } from "node:worker_threads";
import { createInterface } from "node:readline";
import { RunRecord } from "./record.mjs";

const WORKER_URL = new URL("./worker.mjs", import.meta.url);
const SPARES = 1; // warm workers kept ready beyond those in use
const MAX_IDLE = 4;
const GRACE_MS = 250; // after the execution timeout, how long a worker may stay silent before it is ended
const SETTLE_MS = 1000; // after its answer, how long a worker may take to say whether it stayed clean

const idle = [];
const settling = new Set(); // workers whose run has answered, still checking whether they stayed clean
const waiting = []; // [resolve, reject] of runs waiting for a worker
const all = new Set();
let warming = 0;

function write(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

class WorkerHandle {
  constructor() {
    this.worker = new Worker(WORKER_URL, {
      env: {}, // pipedream.md "Environment variables": steps see what the workflow gives, never the host's
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: 512 },
    });
    this.runs = 0;
    this.children = new Set(); // pids of child processes its steps started that are still running
    this.listener = null; // the active run's event handler
    this.settledOrDead = null; // while settling: resolves when the clean check is done or the worker died
    this.alive = true;
    all.add(this);
    this.ready = new Promise((resolve, reject) => {
      this.worker.once("message", (message) => (message.t === "ready" ? resolve(this) : reject(new Error("unexpected first message"))));
      this.worker.once("error", reject);
      this.worker.once("exit", (code) => reject(new Error(`worker exited with code ${code} while starting`)));
    });
    this.ready.catch(() => {});
    this.worker.on("message", (event) => {
      if (event.t === "child") this.children.add(event.pid);
      else if (event.t === "child_exit") this.children.delete(event.pid);
      else this.listener?.event(event);
    });
    this.worker.on("error", (err) => this.listener?.died({ error: err }));
    this.worker.on("exit", (code) => {
      this.killChildren();
      this.alive = false;
      all.delete(this);
      const i = idle.indexOf(this);
      if (i >= 0) idle.splice(i, 1);
      this.listener?.died({ exit: code });
    });
    for (const stream of ["stdout", "stderr"]) {
      this.worker[stream].on("data", (chunk) => this.listener?.output(stream, String(chunk)));
    }
  }

  retire() {
    this.alive = false;
    all.delete(this);
    this.listener = null;
    this.killChildren();
    this.worker.terminate().catch(() => {});
  }

  killChildren() {
    for (const pid of this.children) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // it has ended already
      }
    }
    this.children.clear();
  }
}

function spawn() {
  warming += 1;
  const handle = new WorkerHandle();
  handle.ready.then(
    () => {
      warming -= 1;
      release(handle);
    },
    (err) => {
      warming -= 1;
      handle.retire();
      waiting.shift()?.[1](err);
    },
  );
}

function release(handle) {
  if (!handle.alive) return;
  const waiter = waiting.shift();
  if (waiter) waiter[0](handle);
  else if (idle.length < MAX_IDLE) idle.push(handle);
  else handle.retire();
}

function topUp() {
  while (idle.length + warming - waiting.length < SPARES) spawn();
}

// Prefer a warm worker that has run before (its lazy parts are loaded), then one about to be found clean
// (a fraction of a millisecond), then a spare; so a run does not use up the spare just by arriving early.
async function acquire() {
  for (;;) {
    const used = idle.findLastIndex((handle) => handle.runs > 0);
    if (used >= 0) {
      const [handle] = idle.splice(used, 1);
      topUp();
      return handle;
    }
    const soon = settling.values().next().value;
    if (soon) {
      await soon.settledOrDead;
      continue;
    }
    const handle = idle.pop();
    topUp();
    if (handle) return handle;
    return new Promise((resolve, reject) => {
      waiting.push([resolve, reject]);
      topUp();
    });
  }
}

async function run(id, spec) {
  const handle = await acquire();
  handle.runs += 1;
  const record = new RunRecord(spec);
  const workerInfo = { runs: handle.runs, retired: null };
  let answered = false;
  let guard = null;
  let settleGuard = null;
  let doneSettling = () => {};
  const answer = () => {
    if (answered) return;
    answered = true;
    if (guard) clearTimeout(guard);
    write({ id, result: record.result(workerInfo) });
    if (handle.alive) {
      handle.settledOrDead = new Promise((resolve) => {
        doneSettling = resolve;
      });
      settling.add(handle);
      // work a step left behind can keep the worker busy after the run (a promise chain ending in a loop):
      // the next run must not wait for it
      settleGuard = setTimeout(() => retire("the worker stayed busy after its run"), SETTLE_MS);
    }
  };
  const settled = () => {
    clearTimeout(settleGuard);
    settling.delete(handle);
    doneSettling();
  };
  const retire = (reason) => {
    workerInfo.retired = reason;
    handle.retire();
    settled();
    topUp();
  };
  const stuck = () => {
    if (record.startedAt === null) {
      // a backstop: the worker never began this run, so nothing of it is the workflow's doing
      record.abort("error", {
        name: "HarnessError",
        message: "the worker never started the run (left busy by an earlier run); hallsim terminated it",
        stack: null,
      });
      retire("busy before the run started");
    } else {
      // the worker's own timeout did not fire: the step is blocking the event loop
      record.abort("timeout", {
        name: "TimeoutError",
        message:
          `Timeout: the execution exceeded the workflow timeout of ${spec.settings.timeout_ms / 1000} s ` +
          "(modelled) while the step kept the event loop busy; hallsim terminated it",
        stack: null,
      });
      retire("the step blocked the event loop past the timeout");
    }
    answer();
  };
  handle.listener = {
    event(event) {
      record.apply(event);
      if (event.t === "run_end") {
        answer();
      } else if (event.t === "crash") {
        record.abort("error", { name: "HarnessError", message: event.message, stack: null });
        retire("the runtime crashed");
        answer();
      } else if (event.t === "settled") {
        if (!answered) answer();
        settled();
        if (event.clean) {
          handle.listener = null;
          release(handle);
        } else {
          retire(event.reasons.join("; "));
        }
      }
    },
    died(how) {
      settled();
      if (answered) return;
      if (how.error) {
        const err = how.error;
        record.abort("error", { name: err.name ?? "Error", message: err.message ?? String(err), stack: err.stack ?? null, code: err.code });
        retire("the worker failed");
      } else {
        // a step called process.exit (in a worker thread it ends the thread, not the process)
        record.abort("error", {
          name: "ProcessExit",
          message: `the step called process.exit(${how.exit}); on Pipedream that ends the execution as an error`,
          stack: null,
        });
        workerInfo.retired = `process.exit(${how.exit})`;
        topUp();
      }
      answer();
    },
    output(stream, text) {
      if (record.output.length < 64000) record.output += text;
    },
  };
  handle.worker.postMessage({ t: "run", run: spec });
  // bounded from the moment the run is handed over, whatever the worker does
  guard = setTimeout(stuck, spec.settings.timeout_ms * spec.settings.time_scale + GRACE_MS);
}

// --- requests from hallsim ------------------------------------------------------------------------------

process.on("uncaughtException", (err) => process.stderr.write(`hallsim node host: ${err?.stack ?? err}\n`));

topUp();
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    write({ id: null, error: `not JSON: ${err.message}` });
    return;
  }
  const { id, op } = request;
  if (op === "ping") {
    write({ id, result: { version: process.version, pid: process.pid } });
  } else if (op === "run") {
    run(id, request.run).catch((err) => write({ id, error: String(err?.stack ?? err) }));
  } else {
    write({ id, error: `unknown op ${JSON.stringify(op)}` });
  }
});
lines.on("close", async () => {
  for (const handle of all) handle.killChildren();
  await Promise.allSettled([...all].map((handle) => handle.worker.terminate()));
  process.exit(0);
});
