// What the registry's "Continue / End execution if a condition is met" share
// (components/filter/actions/common/common.mjs): the first value, the condition, the two messages; a second
// value for binary conditions and caseSensitive for text ones come from additionalProps.
import filter from "../../filter.app.mjs";
import { isBinary, isText } from "../../common/conditions.mjs";

export default {
  props: {
    filter,
    messageOnContinue: {
      type: "string",
      label: "Reason for continuing",
      optional: true,
    },
    messageOnEnd: {
      type: "string",
      label: "Reason for ending",
      optional: true,
    },
    initialValue: {
      type: "any",
      label: "Initial value",
    },
    condition: {
      propDefinition: [filter, "condition"],
    },
  },
  async additionalProps() {
    const props = {};
    if (isBinary(this.condition)) props.secondValue = { type: "any", label: "Second value" };
    if (isText(this.condition)) {
      props.caseSensitive = { type: "boolean", label: "Case Sensitive", optional: true, default: false };
    }
    return props;
  },
  async run({ $ }) {
    const met = this.filter.checkCondition(this.condition, this.initialValue, this.secondValue, this.caseSensitive);
    return this.consolidateResult($, met);
  },
};
