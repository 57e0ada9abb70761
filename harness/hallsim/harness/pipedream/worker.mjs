// A worker thread that runs workflows for the host, one at a time. It is reused for the next run only
// while it stays clean (see state.mjs); the host retires it otherwise.
import { parentPort, threadId, workerData } from "node:worker_threads";
import http from "node:http";
import { writeSync } from "node:fs";
import {
  guardProcessKill,
  installChildTracking,
  processChanges,
  setRunTag,
  snapshotProcess,
} from "./processes.mjs";
import { cancelPendingTimers, installScaledTimers, real } from "./clock.mjs";
import { dropConnections, inflightRequests, installEgressGuards, stopRecording } from "./egress.mjs";
import { installStepCapture, lingeringWork, runWorkflow, takeStrayErrors } from "./runtime.mjs";
import { JournalWriter } from "./journal.mjs";
import { realmChanges, snapshotRealm } from "./state.mjs";

// the run's events go to the host through shared memory (journal.mjs); those the host acts on at once (the
// run's end, a memory alarm, the worker still answering, a crash, the clean check) also wake it
const journal = new JournalWriter(workerData.journal, (message) => parentPort.postMessage(message));
const WAKE = new Set(["run_end", "memory", "alive", "crash", "settled"]);
const emit = (event) => (WAKE.has(event.t) ? journal.send(event) : journal.append(event));

// pipedream.md "Code steps and components": defineComponent is a global the platform injects; the identity
globalThis.defineComponent = (component) => component;

// Load the lazy parts of Node that every gate uses (fetch, JSON bodies) before the first run, so a run does
// not pay for them: one request to a throwaway server on loopback.
async function warmUp() {
  const server = http.createServer((req, res) => {
    res.setHeader("Content-Type", "application/json");
    res.end('{"ok":true}');
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const response = await fetch(`http://127.0.0.1:${server.address().port}/`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ warm: true }),
    });
    await response.json();
  } finally {
    dropConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

// Node defines some globals lazily (Request, Response, ...): the first access replaces the getter. Take
// them all once now, so the clean check below does not mistake that for a change made by a step.
function materialiseLazyGlobals() {
  for (const key of Reflect.ownKeys(globalThis)) {
    if (Object.getOwnPropertyDescriptor(globalThis, key)?.get) {
      try {
        void globalThis[key];
      } catch {
        // a getter that throws (an experimental API without its flag) stays as it is
      }
    }
  }
}

// What a step writes to process.stdout or process.stderr goes to the host on the same port as the run's events,
// so it arrives before the run's end (Node's own stdio of a worker uses a port of its own, with no order
// between the two).
function captureStdio() {
  for (const stream of [process.stdout, process.stderr]) {
    stream.write = function write(chunk, encoding, callback) {
      const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString(typeof encoding === "string" ? encoding : "utf8");
      journal.append({ t: "output", text });
      const done = typeof encoding === "function" ? encoding : callback;
      if (typeof done === "function") real.setImmediate(done);
      return true;
    };
  }
}

// A run that timed out while a request was pending (a Hall that hangs) leaves that request to fail once its
// connection is dropped, and the step's code after it (a catch) to run then: wait for both, so the checks
// below see what that code did and the worker is kept when it left nothing behind. Bounded: code that keeps
// asking (a retry loop; every connection is refused between runs) stays in flight and retires the worker.
const DRAIN_MS = 50;

async function drainRequests() {
  const deadline = performance.now() + DRAIN_MS;
  while (inflightRequests() > 0 && performance.now() < deadline) {
    await new Promise((resolve) => real.setTimeout(resolve, 1));
  }
  // what the step's code does once its request failed: a promise chain, run before the checks (a request it
  // makes now is refused: nothing is pooled that the next run could reach)
  await new Promise((resolve) => real.setImmediate(resolve));
}

let baseline;
let processBaseline;
let runs = 0;

// Memory per run, in bytes: V8's heap limit (resourceLimits) does not count ArrayBuffers or other memory held
// outside the heap, so the worker looks at heap + external (which includes ArrayBuffers) while a run is in
// progress. A step that allocates in one synchronous loop does not let this check run: the host's watch on
// the whole process (host.mjs) covers that.
const MEMORY_CHECK_MS = 25;

function memoryUsed() {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

function watchMemory(limitBytes, emit) {
  let reported = false;
  const check = () => {
    const used = memoryUsed();
    if (!reported && used > limitBytes) {
      reported = true;
      emit({ t: "memory", used, limit: limitBytes });
    }
  };
  const timer = real.setInterval(check, MEMORY_CHECK_MS);
  return () => {
    real.clearInterval(timer);
    check();
  };
}

async function start() {
  await warmUp();
  materialiseLazyGlobals();
  installScaledTimers();
  installEgressGuards();
  installStepCapture();
  installChildTracking((event) => parentPort.postMessage(event));
  captureStdio();
  guardProcessKill();
  baseline = snapshotRealm();
  processBaseline = snapshotProcess();
  parentPort.postMessage({ t: "ready" });
}

parentPort.on("message", async (message) => {
  if (message.t !== "run") return;
  runs += 1;
  const runTag = `${workerData.tag}.${threadId}.${runs}.`;
  setRunTag(runTag);
  const stopWatch = watchMemory(workerData.memoryBytes, emit);
  try {
    await runWorkflow(message.run, emit);
  } catch (err) {
    emit({ t: "crash", message: String(err?.stack ?? err) });
  } finally {
    stopWatch();
    // after everything the run wrote to fd 1: the host answers once it has read up to here (host.mjs)
    try {
      writeSync(1, `\u0000hallsim-run-end ${runTag}\u0000\n`);
    } catch {
      // fd 1 gone: the host answers after its short wait instead
    }
  }
  // After the answer is out: may this worker take another run? First let whatever a step queued run (a promise
  // chain outlives its step), so the check below sees what it did, and a chain that never ends keeps this
  // worker from ever settling (the host then retires it).
  await new Promise((resolve) => real.setImmediate(resolve));
  stopRecording();
  const reasons = [];
  if (dropConnections()) await drainRequests();
  const inflight = inflightRequests();
  if (inflight) reasons.push(`${inflight} HTTP request(s) still in flight`);
  const timers = cancelPendingTimers();
  if (timers) reasons.push(`${timers} timer(s) set after the run ended`);
  const stray = takeStrayErrors();
  if (stray) reasons.push(`${stray} error(s) thrown after their step finished`);
  const lingering = lingeringWork();
  if (lingering.length) reasons.push(`work still running: ${lingering.join(", ")}`);
  reasons.push(...realmChanges(baseline));
  const processChanged = processChanges(processBaseline);
  if (processChanged) reasons.push(processChanged);
  emit({ t: "settled", clean: reasons.length === 0, reasons });
});

// not awaited at the top level: a pending top-level await leaves a process 'exit' listener until it settles
start();
