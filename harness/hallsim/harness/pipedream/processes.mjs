// Processes a step can reach. Child processes it starts (spawn, exec, execFile and fork all go through
// ChildProcess#spawn; spawnSync, execSync and execFileSync are wrapped too) may not outlive its run, nor may
// anything they start in turn:
// - each child starts in a session of its own (`detached`), so its background jobs (`sleep 46 &`) share its
//   process group and one kill(-pgid) ends them all, even after the child itself has exited;
// - each child carries HALLSIM_PROCESS=<host tag>.<run> in its environment, which its descendants inherit
//   (a `setsid` grandchild too, and the children of a Worker a step starts), so a sweep of /proc finds what
//   left the group;
// - the host runs in a session of its own (hallsim starts it so), and sweeps that session and its tag when it
//   ends, however it ends (Python does the same when the host is killed).
// Not reachable: a descendant that both leaves the group (setsid) and drops its environment (env -i).
// And process.kill may not end the Node host, hallsim, or a whole process group.
import { ChildProcess } from "node:child_process";
import childProcess from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import workerThreads from "node:worker_threads";

export const TAG_NAME = "HALLSIM_PROCESS";

export class ProcessKillRefusedError extends Error {
  constructor(pid) {
    super(
      `hallsim refused process.kill(${pid}): it would end the Node host that runs every workflow, hallsim ` +
        "itself or a whole process group, not only this execution; on Pipedream a step that ends its own " +
        "process ends the execution as an error",
    );
    this.name = "ProcessKillRefusedError";
  }
}

const realKill = process.kill.bind(process);

export function guardProcessKill() {
  process.kill = function guardedKill(pid, signal) {
    const target = Number(pid);
    if (target <= 0 || target === process.pid || target === process.ppid) throw new ProcessKillRefusedError(pid);
    return realKill(pid, signal);
  };
}

function quietKill(pid, signal = "SIGKILL") {
  try {
    realKill(pid, signal);
    return true;
  } catch {
    return false; // it has ended already (or is not ours)
  }
}

// --- the tag and the groups of the current run --------------------------------------------------------------

let runTag = null; // HALLSIM_PROCESS value for the run in progress
const workers = new Set(); // the Workers the current run started (they end with it)
let touched = false; // the run started a child process or a Worker: sweep /proc for its tag when it ends
let tell = () => {}; // tells the host (it sweeps when it ends only if some run started anything)

function markTouched() {
  if (!touched) tell({ t: "spawned" });
  touched = true;
}
const groups = new Set(); // process groups (= pids of the children, each a session leader) of this run
const running = new Set(); // ChildProcess objects still running

/** The tag the next children get: `${hostTag}.${threadId}.${run}.` (the final dot keeps run 2 from matching
 * run 23 when a sweep looks for a prefix). */
export function setRunTag(tag) {
  runTag = tag;
}

function withTag(pairs) {
  const kept = (pairs ?? []).filter((pair) => !String(pair).startsWith(`${TAG_NAME}=`));
  if (runTag !== null) kept.push(`${TAG_NAME}=${runTag}`);
  return kept;
}

function envWithTag(env) {
  const base = env === undefined || env === null ? process.env : env;
  return runTag === null ? base : { ...base, [TAG_NAME]: runTag };
}

/** `notify` gets {t: "child", pid} for each child started and {t: "child_exit", pid} when it ends. */
export function installChildTracking(notify) {
  tell = notify;
  const spawn = ChildProcess.prototype.spawn;
  ChildProcess.prototype.spawn = function spawnTracked(options) {
    if (options && typeof options === "object") {
      options.detached = true;
      options.envPairs = withTag(options.envPairs);
    }
    const result = spawn.call(this, options);
    const { pid } = this;
    if (pid !== undefined) {
      running.add(this);
      groups.add(pid);
      markTouched();
      notify({ t: "child", pid });
      this.once("exit", () => {
        running.delete(this);
        notify({ t: "child_exit", pid });
      });
    }
    return result;
  };
  // the synchronous forms use their own binding, not ChildProcess#spawn: tag them through their options
  // (spawnSync(file[, args][, options]), execSync(command[, options]), execFileSync(file[, args][, options]))
  for (const name of ["spawnSync", "execSync", "execFileSync"]) {
    const original = childProcess[name];
    childProcess[name] = function tagged(...args) {
      const last = args.length > 1 ? args[args.length - 1] : undefined;
      if (last !== null && typeof last === "object" && !Array.isArray(last)) {
        args[args.length - 1] = { ...last, env: envWithTag(last.env) };
      } else {
        args.push({ env: envWithTag(undefined) });
      }
      markTouched();
      return original.apply(this, args);
    };
  }
  // a Worker a step starts has a realm of its own, with an unwrapped child_process: its environment carries
  // the tag instead, so what it spawns is tagged (the default env of a child is the worker's process.env)
  const RealWorker = workerThreads.Worker;
  class TaggedWorker extends RealWorker {
    constructor(filename, options = {}) {
      const env = options.env === workerThreads.SHARE_ENV ? options.env : envWithTag(options.env);
      markTouched();
      super(filename, { ...options, env });
      workers.add(this);
      this.once("exit", () => workers.delete(this));
    }
  }
  workerThreads.Worker = TaggedWorker;
  syncBuiltinESMExports();
}

// --- /proc ---------------------------------------------------------------------------------------------------

/** [pid, ppid, pgid, sid] of every process /proc shows (empty where there is no /proc). */
export function processTable() {
  let names;
  try {
    names = readdirSync("/proc");
  } catch {
    return [];
  }
  const table = [];
  for (const name of names) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "latin1");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") continue; // ended; only its exit status is left
      table.push([Number(name), Number(fields[1]), Number(fields[2]), Number(fields[3])]);
    } catch {
      // it ended while we looked
    }
  }
  return table;
}

function tagOf(pid) {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, "latin1");
    const at = environ.indexOf(`${TAG_NAME}=`);
    if (at < 0) return null;
    const end = environ.indexOf("\0", at);
    return environ.slice(at + TAG_NAME.length + 1, end < 0 ? undefined : end);
  } catch {
    return null; // not ours to read, or gone
  }
}

/** Kill every process whose tag starts with `prefix` (a run's tag, or `${hostTag}.` for all of the host's),
 * and, when `session` is given, every process of that session but this one. Returns how many were killed. */
export function sweep(prefix, session = null) {
  let killed = 0;
  for (const [pid, , , sid] of processTable()) {
    if (pid === process.pid) continue;
    const tag = tagOf(pid);
    const mine = (tag !== null && tag.startsWith(prefix)) || (session !== null && sid === session);
    if (mine && quietKill(pid)) killed += 1;
  }
  return killed;
}

/** Kill the child processes of this run, their process groups and every descendant that carries its tag. */
export function killChildren() {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
  for (const pgid of groups) quietKill(-pgid);
  groups.clear();
  // a sweep reads /proc: only when the run started anything
  if (touched && runTag !== null) sweep(runTag);
  touched = false;
  if (workers.size > 0) {
    // Workers the run started end with it; one may spawn while it is being ended, after the sweep above,
    // so the run's tag is swept again once every one of them has stopped
    const tag = runTag;
    const ending = [...workers].map((worker) => worker.terminate().catch(() => {}));
    workers.clear();
    Promise.allSettled(ending).then(() => {
      if (tag !== null) sweep(tag);
    });
  }
}

// --- mutable process state the realm check does not see ---------------------------------------------------

function processState() {
  return JSON.stringify({
    argv: process.argv,
    execArgv: process.execArgv,
    title: process.title,
    cwd: process.cwd(),
    debugPort: process.debugPort,
  });
}

/** A snapshot of process.argv, execArgv, title and the like (their contents, not their identity). */
export function snapshotProcess() {
  return processState();
}

/** What a run changed in that state: a reason the worker is not clean, or null. */
export function processChanges(snapshot) {
  let now;
  try {
    now = processState();
  } catch (err) {
    return `process state unreadable (${err?.message ?? err})`;
  }
  if (now === snapshot) return null;
  const before = JSON.parse(snapshot);
  const after = JSON.parse(now);
  const changed = Object.keys(after).filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]));
  return `process.${changed.join(", process.")} changed`;
}
