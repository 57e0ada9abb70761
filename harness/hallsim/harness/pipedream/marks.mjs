// The end-of-run marks a worker writes to fd 1 after its run (worker.mjs), and the answers that wait for them
// (host.mjs). fd 1 and the worker's messages are two channels with no order between them: the host may read a
// run's mark before the message that ends the run, or after it. Either way the answer goes once both are in;
// a mark read first is kept (the last few), so that its answer never waits out the timeout for it.

const KEEP = 64; // marks read before their run's end, kept this many (a run whose end never came leaves one)

export class EndMarks {
  constructor(waitMs) {
    this.waitMs = waitMs;
    this.early = new Set(); // run tags whose mark was read before anyone waited for it
    this.waiters = new Map(); // run tag -> its answer's callback
  }

  /** The fd-1 reader has read up to the mark of the run `tag`. */
  seen(tag) {
    const waiter = this.waiters.get(tag);
    if (waiter) {
      this.waiters.delete(tag);
      waiter("mark");
      return;
    }
    this.early.add(tag);
    if (this.early.size > KEEP) this.early.delete(this.early.values().next().value);
  }

  /** `then("mark")` once the mark of `tag` has been read (at once if it was read already), else
   * `then("timeout")` after waitMs. */
  after(tag, then) {
    if (this.early.delete(tag)) {
      then("mark");
      return;
    }
    const timer = setTimeout(() => {
      this.waiters.delete(tag);
      then("timeout");
    }, this.waitMs);
    this.waiters.set(tag, (how) => {
      clearTimeout(timer);
      then(how);
    });
  }
}
