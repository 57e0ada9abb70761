// What a run did, assembled by the host from its worker's events (worker.mjs, runtime.mjs); kept in the host
// so that nothing already recorded is lost when the worker has to be terminated.

const OUTPUT_LIMIT = 64000;

export class RunRecord {
  constructor(run) {
    this.scale = run.settings.time_scale;
    this.timeoutMs = run.settings.timeout_ms;
    this.steps = run.steps.map((spec) => ({
      name: spec.name,
      kind: spec.kind,
      status: "not_run",
      exports: {},
      return_value: null,
      has_return_value: false,
      error: null,
      exit_reason: null,
      exited: false,
      attempts: 0,
      logs: [],
      http: [],
      flow: [],
      warnings: [],
      wall_ms: null,
      modelled_ms: null,
    }));
    this.http = [];
    this.warnings = [];
    this.output = "";
    this.outcome = null;
    this.running = null;
    this.wall_ms = null;
    this.modelled_ms = null;
    this.startedAt = null;
  }

  apply(event) {
    const step = event.step === null || event.step === undefined ? null : this.steps[event.step];
    switch (event.t) {
      case "run_start":
        // the host reads the worker's events in batches (journal.mjs): the run began when the worker says
        this.startedAt = event.since === undefined ? performance.now() : event.since - performance.timeOrigin;
        break;
      case "load":
        this.running = event.step;
        break;
      case "step_start":
        this.running = event.step;
        step.status = "running";
        step.attempts = event.attempt ?? 1;
        if (step.attempts > 1) step.exports = {};
        break;
      case "export":
        if (event.absent) delete step.exports[event.name];
        else step.exports[event.name] = JSON.parse(event.json);
        break;
      case "log":
        step.logs.push({ level: event.level, text: event.text });
        break;
      case "warning":
        (step ? step.warnings : this.warnings).push(event.text);
        break;
      case "http": {
        const list = step ? step.http : this.http;
        const i = list.findIndex((entry) => entry.n === event.entry.n);
        if (i >= 0) list[i] = event.entry;
        else list.push(event.entry);
        break;
      }
      case "flow": {
        const { t, step: _, ...details } = event;
        step.flow.push(details);
        break;
      }
      case "step_end":
        this.running = null;
        step.status = event.status;
        step.error = event.error;
        step.exited = event.exited;
        step.exit_reason = event.exit_reason;
        step.has_return_value = event.return_json !== undefined;
        step.return_value = step.has_return_value ? JSON.parse(event.return_json) : null;
        step.wall_ms = event.wall_ms;
        step.modelled_ms = event.wall_ms === null ? null : event.wall_ms / this.scale + (event.virtual_ms ?? 0);
        break;
      case "run_end":
        this.outcome = event.outcome;
        this.wall_ms = event.wall_ms;
        this.modelled_ms = event.modelled_ms;
        break;
      default:
        break;
    }
  }

  /** What the run wrote to stdout or stderr (process.stdout, fd 1), kept up to OUTPUT_LIMIT characters. */
  addOutput(text) {
    if (this.output.length >= OUTPUT_LIMIT) return;
    this.output += text.slice(0, OUTPUT_LIMIT - this.output.length);
    if (this.output.length >= OUTPUT_LIMIT) this.output += "\n[output truncated by hallsim]";
  }

  /** The worker stopped answering or died: the step it was running ends with `status`. */
  abort(status, error) {
    const elapsed = this.startedAt === null ? 0 : performance.now() - this.startedAt;
    // on the platform the execution ends at the timeout: the grace hallsim allows is not modelled time
    const cap = status === "timeout" ? this.timeoutMs : Infinity;
    if (this.running !== null) {
      const step = this.steps[this.running];
      step.status = status;
      step.error = error;
      const earlierWall = this.steps.reduce((sum, s) => sum + (s.wall_ms ?? 0), 0);
      const earlierModelled = this.steps.reduce((sum, s) => sum + (s.modelled_ms ?? 0), 0);
      step.wall_ms = Math.max(0, elapsed - earlierWall);
      step.modelled_ms = Math.max(0, Math.min(step.wall_ms / this.scale, cap - earlierModelled));
    }
    this.outcome = status === "timeout" ? "timed_out" : "errored";
    this.wall_ms = elapsed;
    this.modelled_ms = Math.min(elapsed / this.scale, cap);
  }

  result(worker) {
    return {
      outcome: this.outcome,
      steps: this.steps,
      http: this.http,
      warnings: this.warnings,
      output: this.output,
      wall_ms: this.wall_ms,
      modelled_ms: this.modelled_ms,
      worker,
    };
  }
}
