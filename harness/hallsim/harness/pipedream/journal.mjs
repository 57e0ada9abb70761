// A worker's events on their way to the host (worker.mjs -> host.mjs), written to memory both threads share.
//
// A message per event (about thirty a run) cost more than the rest of the host's work, and each one woke the
// host while the run was going. Events go to a ring in a SharedArrayBuffer instead, as JSON, in the order they
// happened; the host reads them when a message comes (the events it must act on at once still come by
// message: the run's end, a memory alarm, the worker's "alive") and whenever it has to act on its own (a worker
// that stopped answering, died or was terminated). Shared memory outlives the thread: what a step recorded
// before a busy loop or a process.exit is there for the host to read, as it was with a message per event.
//
// Each entry is a 4-byte length and the JSON text, padded to 4 bytes. An event that goes by message leaves a
// placeholder entry in its place, so the host applies every event in the order the worker emitted them: the
// reader stops at a placeholder until its message has come. A big event, or one JSON cannot carry, goes by
// message the same way (structured clone, as before). A full ring makes the worker wait for the host.

const HEADER_BYTES = 8; // two Int32 counters: bytes written, bytes read (they wrap; only their difference counts)
const WRITTEN = 0;
const READ = 1;
const WRAP = -1; // the rest of the ring up to its end is unused: the next entry is at offset 0
const POSTED = -2; // this event came by message (the next one in the order messages arrive)
export const JOURNAL_BYTES = 1 << 18;

export function createJournal(bytes = JOURNAL_BYTES) {
  if (bytes & (bytes - 1)) throw new Error("the journal size must be a power of two");
  return new SharedArrayBuffer(HEADER_BYTES + bytes);
}

function views(shared) {
  const size = shared.byteLength - HEADER_BYTES;
  return {
    size,
    counters: new Int32Array(shared, 0, 2),
    words: new Int32Array(shared, HEADER_BYTES, size / 4),
    bytes: Buffer.from(shared, HEADER_BYTES, size),
  };
}

const padded = (length) => (length + 3) & ~3;

/** The worker's end. `post(message)` is parentPort.postMessage. */
export class JournalWriter {
  constructor(shared, post) {
    Object.assign(this, views(shared));
    this.post = post;
    this.written = Atomics.load(this.counters, WRITTEN);
    this.largest = this.size / 4; // a bigger event goes by message (it would hold up the ring)
  }

  /** An event the host reads when it next looks. */
  append(event) {
    let text;
    try {
      text = JSON.stringify(event);
    } catch {
      text = undefined; // a BigInt, a cycle: structured clone carries it, as before
    }
    const length = text === undefined ? 0 : Buffer.byteLength(text, "utf8");
    if (text === undefined || 4 + padded(length) > this.largest) {
      this.send(event);
      return;
    }
    const at = this.#room(4 + padded(length));
    this.bytes.write(text, at + 4, length, "utf8");
    this.words[at >> 2] = length;
    this.#publish(4 + padded(length));
  }

  /** An event the host must act on at once: it goes by message, in its place among the others. */
  send(event) {
    const at = this.#room(4);
    this.words[at >> 2] = POSTED;
    this.#publish(4);
    this.post({ t: "journal", event });
  }

  /** Where an entry of `entryBytes` goes; while the ring is full, the worker waits for the host to read. */
  #room(entryBytes) {
    let belled = false;
    for (;;) {
      const read = Atomics.load(this.counters, READ);
      const free = this.size - ((this.written - read) | 0);
      const at = this.written & (this.size - 1);
      const tail = this.size - at;
      if (entryBytes <= tail && entryBytes <= free) return at;
      if (entryBytes > tail && tail + entryBytes <= free) {
        this.words[at >> 2] = WRAP;
        this.written = (this.written + tail) | 0;
        return 0;
      }
      // full (a step writing in a loop faster than the host reads): the host reads when a message comes
      if (!belled) this.post({ t: "journal_full" });
      belled = true;
      Atomics.wait(this.counters, READ, read, 1000);
    }
  }

  #publish(entryBytes) {
    this.written = (this.written + entryBytes) | 0;
    Atomics.store(this.counters, WRITTEN, this.written); // after the entry: the host sees it whole
  }
}

/** The host's end. */
export class JournalReader {
  constructor(shared) {
    Object.assign(this, views(shared));
    this.read = Atomics.load(this.counters, READ);
    this.posted = []; // events that came by message, not yet reached in the journal
  }

  /** An event that came by message ({t: "journal", event}). */
  received(event) {
    this.posted.push(event);
  }

  /** Every event written so far, oldest first, to `apply`. It stops at an event that is to come by message
   * and has not come yet, unless the worker is gone (`gone`): its message will never come. */
  drain(apply, gone = false) {
    const written = Atomics.load(this.counters, WRITTEN);
    while (((written - this.read) | 0) > 0) {
      const at = this.read & (this.size - 1);
      const word = this.words[at >> 2];
      if (word === WRAP) {
        this.#advance(this.size - at);
        continue;
      }
      if (word === POSTED) {
        if (this.posted.length === 0 && !gone) break; // its message is on the way: it comes next
        this.#advance(4);
        if (this.posted.length) apply(this.posted.shift());
        continue;
      }
      const text = this.bytes.toString("utf8", at + 4, at + 4 + word);
      this.#advance(4 + padded(word));
      apply(JSON.parse(text));
    }
    Atomics.notify(this.counters, READ); // a worker waiting for room
  }

  #advance(bytes) {
    this.read = (this.read + bytes) | 0;
    Atomics.store(this.counters, READ, this.read);
  }
}
