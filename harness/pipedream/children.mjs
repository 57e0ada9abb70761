// Child processes a step starts (spawn, exec, execFile and fork all go through ChildProcess#spawn). None may
// outlive its run: the worker kills them when the run ends, and it tells the host each pid, so the host kills
// them when it has to terminate the worker instead (a busy loop, process.exit) or exits itself.
import { ChildProcess } from "node:child_process";

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
