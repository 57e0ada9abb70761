// hallsim's "End Workflow" (key helper_functions-end-workflow): when `condition` (default true) holds,
// $.flow.exit(reason) and a $summary after it (the step goes on after exit); otherwise a $summary only.
import helperFunctions from "../../helper_functions.app.mjs";

export default {
  name: "End Workflow",
  key: "helper_functions-end-workflow",
  version: "0.2.2",
  type: "action",
  props: {
    helper_functions: helperFunctions,
    reason: { type: "string", optional: true },
    condition: { type: "boolean", label: "Condition", optional: true, default: true },
  },
  async run({ $ }) {
    if (!this.condition) {
      $.export("$summary", "Workflow continued. Condition evaluated to false.");
      return;
    }
    $.flow.exit(this.reason);
    $.export("$summary", `Workflow ended.${this.reason ? ` Reason: \`${this.reason}\`` : ""}`);
  },
};
