// hallsim's "Continue execution if a condition Is met" (key filter-continue-based-on-condition): ends the
// workflow with $.flow.exit(messageOnEnd) when the condition is not met, returns messageOnContinue.
import common from "../common/common.mjs";

export default {
  ...common,
  name: "Continue execution if a condition Is met",
  key: "filter-continue-based-on-condition",
  version: "0.0.2",
  type: "action",
  methods: {
    consolidateResult($, met) {
      if (!met) $.flow.exit(this.messageOnEnd);
      return this.messageOnContinue;
    },
  },
};
