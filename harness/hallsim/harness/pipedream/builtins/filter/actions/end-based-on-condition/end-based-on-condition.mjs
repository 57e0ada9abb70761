// hallsim's "End execution if a condition is met" (key filter-end-based-on-condition): ends the workflow
// with $.flow.exit(messageOnEnd) when the condition is met, returns messageOnContinue.
import common from "../common/common.mjs";

export default {
  ...common,
  name: "End execution if a condition is met",
  key: "filter-end-based-on-condition",
  version: "0.0.2",
  type: "action",
  methods: {
    consolidateResult($, met) {
      if (met) $.flow.exit(this.messageOnEnd);
      return this.messageOnContinue;
    },
  },
};
