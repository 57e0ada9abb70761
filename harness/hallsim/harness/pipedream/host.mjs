// The Node host: one long-lived process that hallsim drives over JSON lines on a channel of its own (a Unix
// socket hallsim listens on; see _host.py). Each run executes in a worker thread (worker.mjs); a clean worker
// is reused, a dirty or hostile one is terminated, and a spare is kept warm so a fresh worker is ready when one
// is needed. The host never runs step code itself, so a busy loop or process.exit in a step cannot stop it
// from answering.
//
// What a step can reach is kept off the channel: the host's stdout (file descriptor 1, which a step can write
// with fs.writeSync(1)) is a pipe the host reads back into the output of the runs in progress, and every answer
// carries a key that only hallsim and this thread know, so a line a step manages to write to the channel is
// refused. The host ends, with every process a step started, when hallsim ends however it ends: its stdin or
// the channel closes, its parent changes, or it gets SIGTERM, SIGINT or SIGHUP.
import { Worker } from "node:worker_threads";
import net from "node:net";
import { createInterface } from "node:readline";
import { readFileSync } from "node:fs";
import { createJournal, JournalReader } from "./journal.mjs";
import { EndMarks } from "./marks.mjs";
import { RunRecord } from "./record.mjs";
import { sweep } from "./processes.mjs";

const WORKER_URL = new URL("./worker.mjs", import.meta.url);
const SPARES = 1; // warm workers kept ready beyond those in use
// how many are kept now: the last run asked says whether hallsim expects more (`spare: false` when no run
// follows, as in `hallsim replay`: a worker started then costs about 0.2 s of CPU beside the run, and is ended
// unused)
let spares = SPARES;
// how many workers hallsim expects to run side by side soon (`warm`: a matrix about to start its rows); they
// start one at a time, on a core the command's Python, still loading, leaves free
let prewarm = 0;
const MAX_IDLE = 4;
// the most runs that have been in progress at once: that many workers (and the spare) stay when they all
// come back idle, beyond MAX_IDLE, so a matrix with more rows side by side does not end a clean worker each
// time they do and start another for its next rows (about 0.15 s of CPU each); the memory they hold was
// held already at that moment
let peakRuns = 0;
const GRACE_MS = 250; // after the execution timeout, how long a worker may stay silent before it is ended
const SETTLE_MS = 1000; // after its answer, how long a worker may take to say whether it stayed clean

const PARENT_CHECK_MS = 200;
const OUTPUT_WAIT_MS = 250; // how long an answer waits for the worker's end-of-run mark on fd 1
const RUN_END_MARK = "\u0000hallsim-run-end ";
const RSS_CHECK_MS = 50;

const idle = [];
let anySpawned = false; // some step started a process or a Worker: sweep /proc when the host ends
const active = new Set(); // RunRecords of the runs in progress (they receive what is written to fd 1)
const marks = new EndMarks(OUTPUT_WAIT_MS); // each run's mark on fd 1, and the answers waiting for them
const settling = new Set(); // workers whose run has answered, still checking whether they stayed clean
const waiting = []; // [resolve, reject] of runs waiting for a worker
const all = new Set();
let warming = 0;

let hello = null; // {key, tag, channel, output_fd, memory_mb} from hallsim, the first line on stdin
let channel = null;
let memoryBytes = 0;

function write(message) {
  if (channel === null || channel.destroyed) return;
  channel.write(`${JSON.stringify({ ...message, key: hello.key })}\n`);
}

/** A note for hallsim's diagnostics (shown when the host fails); never written to a closed stream twice. */
function diagnose(text) {
  try {
    write({ id: null, diag: String(text).slice(0, 4000) });
  } catch {
    shutdown(70);
  }
}

class WorkerHandle {
  constructor() {
    const journal = createJournal(); // the worker's events (journal.mjs)
    this.journal = new JournalReader(journal);
    this.worker = new Worker(WORKER_URL, {
      env: {}, // pipedream.md "Environment variables": steps see what the workflow gives, never the host's
      stdout: true,
      stderr: true,
      workerData: { tag: hello.tag, memoryBytes, journal },
      resourceLimits: { maxOldGenerationSizeMb: hello.memory_mb },
    });
    this.runs = 0;
    this.threadId = this.worker.threadId; // -1 once it has exited
    this.children = new Set(); // pids (= process groups) of child processes its steps started
    this.spawned = false; // a step of this worker started a process or a Worker (so /proc is worth a sweep)
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
    this.worker.on("message", (message) => {
      if (message.t === "journal") {
        this.journal.received(message.event);
        this.readJournal();
      } else if (message.t === "journal_full") {
        this.readJournal();
      } else {
        this.route(message);
      }
    });
    this.worker.on("error", (err) => {
      this.readJournal();
      this.listener?.died({ error: err });
    });
    this.worker.on("exit", (code) => {
      // the worker's messages have all been delivered by now (Node empties its ports before "exit"): what the
      // journal holds is all there will be
      this.readJournal(true);
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

  /** Apply what the worker has recorded so far (also before the host acts on its own: a stuck worker). */
  readJournal(gone = false) {
    this.journal.drain((event) => this.route(event), gone);
  }

  route(event) {
    // a child that exited may have left its process group behind (`sleep 46 &`): keep the group until the
    // worker ends or the run's own cleanup has killed it
    if (event.t === "child") {
      this.children.add(event.pid);
      this.spawned = anySpawned = true;
    } else if (event.t === "spawned") {
      this.spawned = anySpawned = true;
    } else if (event.t === "output") {
      this.listener?.output("stdout", event.text);
    } else if (event.t !== "child_exit") {
      this.listener?.event(event);
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
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, "SIGKILL");
        } catch {
          // it has ended already
        }
      }
    }
    // what those children started and what a Worker of a step started carry the worker's tag
    if (this.spawned) sweep(`${hello.tag}.${this.threadId}.`);
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
      topUp();
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
  else if (idle.length < Math.max(MAX_IDLE, peakRuns + spares)) idle.push(handle);
  else handle.retire();
}

// Workers for the runs waiting come first; the spare starts once none is being started for a waiting run, so
// that a first run's worker does not share a small machine's CPU with the spare (both were ready only after
// the time two take together).
function topUp() {
  while (warming < waiting.length) spawn();
  if (waiting.length > 0) return;
  while (idle.length + warming < spares) spawn();
  // a "warm" request: workers started one after another until the host holds that many (then forgotten)
  if (prewarm > all.size) {
    if (warming === 0) spawn();
  } else {
    prewarm = 0;
  }
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

function outOfMemory(used) {
  const mb = (bytes) => Math.round(bytes / 1048576);
  return {
    name: "MemoryLimitError",
    // pipedream.com/docs/workflows/limits "Memory": workflows run with 256MB by default; exceeding it ends
    // the execution with an Out of Memory error
    message:
      `Out of Memory: the execution used ${used === null ? "more than" : `${mb(used)} MB,`} over the workflow ` +
      `memory of ${hello.memory_mb} MB (V8 heap + ArrayBuffers + other memory outside the heap); hallsim ` +
      "terminated it",
    stack: null,
  };
}

async function run(id, spec) {
  const handle = await acquire();
  handle.runs += 1;
  const runTag = `${hello.tag}.${handle.threadId}.${handle.runs}.`; // as worker.mjs names this run
  const record = new RunRecord(spec);
  // the process's size with no run in progress: its idle workers, and memory an earlier run freed that the
  // allocator has not given back yet, are not this run's
  if (active.size === 0) rssBase = process.memoryUsage.rss();
  active.add(record);
  peakRuns = Math.max(peakRuns, active.size);
  const workerInfo = { runs: handle.runs, retired: null };
  let answered = false;
  let ended = false; // the worker reported the run's end itself (so its mark on fd 1 follows)
  let guard = null;
  let settleGuard = null;
  let doneSettling = () => {};
  const answer = () => {
    if (answered) return;
    answered = true;
    if (guard) clearTimeout(guard);
    const send = () => {
      active.delete(record);
      write({ id, result: record.result(workerInfo) });
    };
    if (ended && handle.alive) {
      // the worker writes a mark to fd 1 after the run: the answer goes once the host has read that far (or
      // after a short wait), whichever of the mark and the run's end the host read first (marks.mjs)
      marks.after(runTag, send);
    } else {
      setImmediate(send);
    }
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
    handle.readJournal(); // what the run recorded before its worker stopped answering
    if (answered) return;
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
      if (event.t === "alive") {
        // the worker's loop still answers, its own timeout check ran: the step is waiting, not blocking it
        clearTimeout(guard);
        guard = setTimeout(stuck, spec.settings.timeout_ms * spec.settings.time_scale + GRACE_MS);
        return;
      }
      record.apply(event);
      if (event.t === "run_end") {
        ended = true;
        answer();
      } else if (event.t === "memory") {
        if (answered) return;
        record.abort("error", outOfMemory(event.used));
        retire("the run used more memory than allowed");
        answer();
      } else if (event.t === "crash") {
        record.abort("error", { name: "HarnessError", message: event.message, stack: null });
        retire("the runtime crashed");
        answer();
      } else if (event.t === "settled") {
        if (!answered) answer();
        settled();
        handle.children.clear(); // the run's own cleanup (processes.mjs killChildren) has ended them
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
      if (how.error?.code === "ERR_WORKER_OUT_OF_MEMORY") {
        record.abort("error", outOfMemory(null));
        retire("the run used more memory than allowed");
      } else if (how.error) {
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
      record.addOutput(text);
    },
  };
  handle.worker.postMessage({ t: "run", run: spec });
  // bounded from the moment the run is handed over, whatever the worker does
  guard = setTimeout(stuck, spec.settings.timeout_ms * spec.settings.time_scale + GRACE_MS);
}

// --- memory of the whole process ----------------------------------------------------------------------------

// A step that allocates in a synchronous loop never lets its worker's own check run (worker.mjs): the host
// watches the resident size of the process and ends the runs in progress when it passes what they may use
// beyond its size when none was in progress.
let rssBase = 0; // set by run() when it starts one with none in progress
function watchRss() {
  if (active.size === 0 || shuttingDown) return;
  const rss = process.memoryUsage.rss();
  if (rss <= rssBase + memoryBytes * (active.size + 1)) return;
  for (const handle of [...all]) {
    if (!handle.listener || idle.includes(handle)) continue;
    handle.readJournal();
    handle.listener?.event({ t: "memory", used: null });
  }
}

// --- ending ---------------------------------------------------------------------------------------------------

let shuttingDown = false;

function ownSession() {
  try {
    const stat = readFileSync("/proc/self/stat", "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[3]) === process.pid ? process.pid : null;
  } catch {
    return null;
  }
}

/** End every process a step started (their groups, their tag, this session), then this process. */
function shutdown(code = 0) {
  if (shuttingDown) return;
  shuttingDown = true;
  try {
    for (const handle of all) handle.killChildren();
    // reading /proc costs milliseconds per hundred processes: only when a step ever started anything
    if (hello !== null && anySpawned) sweep(`${hello.tag}.`, ownSession());
  } finally {
    // A normal end (hallsim closed stdin, a signal, a new parent): what the steps started is ended above, and
    // nothing is left to write. process.exit() would then wait for every worker thread's isolate to be torn
    // down, 60-90 ms right after a run (V8 still busy in the background), and every fresh command waited for
    // it; the kernel frees all of it at once. Any other end keeps its exit status.
    if (code === 0) process.kill(process.pid, "SIGKILL");
    process.exit(code);
  }
}

// a closed stream must never loop: a failed diagnostic ends the host instead of raising again
process.on("uncaughtException", (err) => {
  if (shuttingDown) return;
  if (err?.code === "EPIPE" || err?.code === "ERR_STREAM_DESTROYED" || channel === null) shutdown(70);
  else diagnose(`uncaught: ${err?.stack ?? err}`);
});
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, () => shutdown(0));
process.stdout.on?.("error", () => {});
process.stderr.on?.("error", () => {});

// --- requests from hallsim --------------------------------------------------------------------------------

function serve(request) {
  const { id, op } = request;
  if (op === "ping") {
    // workers: what the host holds now (tests and diagnostics read it; nothing depends on it)
    const workers = { idle: idle.length, starting: warming, all: all.size };
    write({ id, result: { version: process.version, pid: process.pid, workers } });
  } else if (op === "warm") {
    prewarm = Math.max(prewarm, Math.min(Number(request.workers) || 0, MAX_IDLE));
    topUp();
    write({ id, result: { prewarm } });
  } else if (op === "run") {
    write({ id, accepted: true }); // from here on a death of the host is the run's error, never retried
    spares = request.spare === false ? 0 : SPARES;
    run(id, request.run).catch((err) => write({ id, error: String(err?.stack ?? err) }));
  } else {
    write({ id, error: `unknown op ${JSON.stringify(op)}` });
  }
}

function begin(first) {
  hello = first;
  memoryBytes = hello.memory_mb * 1048576;
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) shutdown(0); // hallsim died and this process was handed to another parent
  }, PARENT_CHECK_MS).unref();
  setInterval(watchRss, RSS_CHECK_MS).unref();
  // fd 1 of this process: what steps write there (fs.writeSync(1), a child with stdio "inherit") comes back
  // here and goes to the output of the runs in progress
  const output = new net.Socket({ fd: hello.output_fd, readable: true, writable: false });
  let unread = "";
  const attribute = (text) => {
    if (!text) return;
    for (const record of active) {
      record.addOutput(active.size > 1 ? `[written to fd 1 while ${active.size} runs were in progress] ${text}` : text);
    }
  };
  output.on("data", (chunk) => {
    unread += chunk.toString("utf8");
    for (;;) {
      const at = unread.indexOf(RUN_END_MARK);
      if (at < 0) break;
      const end = unread.indexOf("\u0000\n", at + RUN_END_MARK.length);
      if (end < 0) break;
      attribute(unread.slice(0, at));
      const tag = unread.slice(at + RUN_END_MARK.length, end);
      unread = unread.slice(end + 2);
      marks.seen(tag);
    }
    // keep a mark that may be cut between two reads; pass on the rest
    const partial = unread.lastIndexOf("\u0000");
    const keep = partial >= 0 && unread.length - partial < 200 ? partial : unread.length;
    attribute(unread.slice(0, keep));
    unread = unread.slice(keep);
  });
  output.on("error", () => {});
  // the first worker starts now, while the channel connects (a worker takes far longer than the handshake)
  topUp();
  channel = net.connect(hello.channel);
  channel.on("connect", () => {
    channel.write(`${JSON.stringify({ hello: hello.key })}\n`);
  });
  channel.on("error", () => shutdown(0));
  channel.on("close", () => shutdown(0));
  const lines = createInterface({ input: channel });
  lines.on("line", (line) => {
    if (!line.trim()) return;
    let request;
    try {
      request = JSON.parse(line);
    } catch (err) {
      write({ id: null, error: `not JSON: ${err.message}` });
      return;
    }
    serve(request);
  });
}

// stdin: hallsim's hello line, then nothing; it closes when hallsim ends (or dies)
const stdin = createInterface({ input: process.stdin });
stdin.once("line", (line) => {
  try {
    begin(JSON.parse(line));
  } catch (err) {
    process.stderr.write(`hallsim node host: bad hello line: ${err?.message ?? err}\n`);
    shutdown(64);
  }
});
stdin.on("close", () => shutdown(0));
process.stdin.on("error", () => shutdown(0));
