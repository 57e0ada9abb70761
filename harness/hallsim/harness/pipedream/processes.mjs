// Processes a step can reach. Child processes it starts (spawn, exec, execFile and fork all go through
// ChildProcess#spawn) may not outlive its run: the worker kills them when the run ends, and it tells the host
// each pid, so the host kills them when it has to terminate the worker instead (a busy loop, process.exit) or
// exits itself. And process.kill may not end the Node host, hallsim, or a whole process group.
import { ChildProcess } from "node:child_process";

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

export function guardProcessKill() {
  const kill = process.kill;
  process.kill = function guardedKill(pid, signal) {
    const target = Number(pid);
    if (target <= 0 || target === process.pid || target === process.ppid) throw new ProcessKillRefusedError(pid);
    return kill.call(process, pid, signal);
  };
}

const running = new Set();

/** `notify` gets {t: "child", pid} for each child started and {t: "child_exit", pid} when it ends. */
export function installChildTracking(notify) {
  const spawn = ChildProcess.prototype.spawn;
  ChildProcess.prototype.spawn = function spawnTracked(...args) {
    const result = spawn.apply(this, args);
    const { pid } = this;
    if (pid !== undefined) {
      running.add(this);
      notify({ t: "child", pid });
      this.once("exit", () => {
        running.delete(this);
        notify({ t: "child_exit", pid });
      });
    }
    return result;
  };
}

/** Kill the child processes still running. */
export function killChildren() {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
}
