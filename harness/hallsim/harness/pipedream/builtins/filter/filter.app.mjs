// hallsim's model of the registry's Filter app (PipedreamHQ/pipedream components/filter/filter.app.mjs):
// `checkCondition(condition, operand1, operand2, caseSensitive)` with the registry's comparisons, which live
// in hallsim's filters.mjs (text lower-cased unless case sensitive, so a boolean throws; numbers through
// parseFloat; TRUE/FALSE by truthiness; IS_NULL for null, undefined, "null", "undefined").
import { checkRegistryCondition } from "@hallsim/filters";
import { CONDITIONS } from "./common/conditions.mjs";

export default {
  type: "app",
  app: "filter",
  propDefinitions: {
    condition: {
      type: "string",
      label: "Condition",
      description: "Choose a condition",
      options: CONDITIONS,
      default: CONDITIONS[0].value,
      reloadProps: true,
    },
  },
  methods: {
    checkCondition(condition, operand1, operand2, caseSensitive) {
      return checkRegistryCondition(condition, operand1, operand2, caseSensitive);
    },
  },
};
