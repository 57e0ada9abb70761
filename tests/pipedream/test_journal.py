"""The journal that carries a worker's events to the host (journal.mjs): events come out in the order they
were emitted, whether they went through shared memory or by message, across the ring's wrap; and what a
step recorded before its worker ended, or while it wrote faster than the host reads, is kept."""

from __future__ import annotations

import json
from pathlib import Path

from hallsim.harness.pipedream import _host

from .conftest import body, code_step, node_module_json

JOURNAL = Path(_host.__file__).with_name("journal.mjs")

SCRIPT = """
import { createJournal, JournalReader, JournalWriter } from %s;
const out = {};
const shared = createJournal(64); // a small ring, so that a few events wrap it
const messages = [];
const writer = new JournalWriter(shared, (message) => messages.push(message));
const reader = new JournalReader(shared);
const seen = [];
const apply = (event) => seen.push(event.n);
const deliver = () => {
  for (const m of messages.splice(0)) if (m.t === "journal") reader.received(m.event);
};

writer.append({ n: 1 });
writer.send({ n: 2 }); // by message: the host has not received it yet
writer.append({ n: 3 });
reader.drain(apply);
out.before_the_message = [...seen];
deliver();
reader.drain(apply);
out.after_the_message = [...seen];

seen.length = 0;
for (let n = 10; n < 40; n++) {
  if (n %% 7 === 0) writer.send({ n }); else writer.append({ n, pad: "x".repeat(n %% 5) });
  if (n %% 3 === 0) { deliver(); reader.drain(apply); }
}
deliver();
reader.drain(apply);
out.across_wraps = seen.join(",") === Array.from({ length: 30 }, (_, i) => i + 10).join(",");

seen.length = 0;
writer.append({ n: 50 });
writer.append({ n: 51n }); // JSON cannot carry a BigInt: it goes by message, in its place
writer.append({ n: 52, big: "y".repeat(100) }); // too big for this ring: by message too
writer.append({ n: 53 });
deliver();
reader.drain((event) => seen.push(String(event.n)));
out.by_message_in_place = [...seen];

seen.length = 0;
writer.append({ n: 60 });
writer.send({ n: 61 }); // the worker ends before this message is delivered: it never comes
writer.append({ n: 62 });
messages.length = 0;
reader.drain(apply, true);
out.worker_gone = [...seen];
process.stdout.write(JSON.stringify(out));
"""


def test_events_come_out_in_the_order_they_were_emitted() -> None:
    assert node_module_json(SCRIPT % json.dumps(JOURNAL.as_uri())) == {
        # the reader stops at an event whose message has not come: nothing after it is applied before it
        "before_the_message": [1],
        "after_the_message": [1, 2, 3],
        "across_wraps": True,
        "by_message_in_place": ["50", "51", "52", "53"],
        # a worker that ended: the rest of the journal is read, the message that never came is skipped
        "worker_gone": [60, 62],
    }


RECORDS = "$.export('before', 1);\nconsole.log('said');\nprocess.stdout.write('printed\\n');\n"


def test_what_a_step_recorded_before_process_exit_is_kept(write_workflow, run_workflow) -> None:
    source = RECORDS + "process.exit(3);"
    run = run_workflow(write_workflow(code_step("leaves", body(source))), timeout_s=5)
    step = run.step("leaves")
    assert step.error["name"] == "ProcessExit"
    assert step.exports == {"before": 1}
    assert [log["text"] for log in step.logs] == ["said"]
    assert "printed" in run.output


def test_what_a_step_recorded_before_a_busy_loop_is_kept(write_workflow, run_workflow) -> None:
    source = RECORDS + "for (;;) {}"
    run = run_workflow(write_workflow(code_step("spins", body(source))), timeout_s=1)
    step = run.step("spins")
    assert step.status == "timeout"
    assert step.exports == {"before": 1}
    assert [log["text"] for log in step.logs] == ["said"]
    assert "printed" in run.output


def test_a_step_that_writes_more_than_the_journal_holds_loses_nothing_after_it(
    write_workflow, run_workflow
) -> None:
    # 4 MB written in one synchronous loop: far more than the journal's ring, which the host reads meanwhile
    source = (
        "const line = 'z'.repeat(1023) + '\\n';\n"
        "for (let i = 0; i < 4096; i++) process.stdout.write(line);\n"
        "$.export('after', 'written');"
    )
    run = run_workflow(write_workflow(code_step("writes", body(source))))
    assert run.outcome == "completed"
    assert run.step("writes").exports == {"after": "written"}
    assert run.output.startswith("z" * 1023 + "\n")
    assert run.output.endswith("[output truncated by hallsim]")
