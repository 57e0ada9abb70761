// hallsim's "Delay Workflow" (key delay-delay-workflow): $.flow.delay for the configured duration, a
// $summary, and the resume/cancel URLs as the return value.
import delay from "../../delay.app.mjs";

export default {
  name: "Delay Workflow",
  key: "delay-delay-workflow",
  version: "0.0.1",
  type: "action",
  props: {
    delay,
    delayDurationValue: { propDefinition: [delay, "delayDurationValue"], label: "Duration to delay (value)" },
    delayDurationUnit: { propDefinition: [delay, "delayDurationUnit"], label: "Duration to delay (unit)" },
  },
  async run({ $ }) {
    const ms = this.delay.convertToMilliseconds(this.delayDurationUnit, this.delayDurationValue);
    console.log(`${this.delayDurationValue} ${this.delayDurationUnit} = ${ms} ms`);
    const urls = $.flow.delay(ms);
    $.export("$summary", `Successfully configured this workflow to delay for ${this.delayDurationValue} ${this.delayDurationUnit}.`);
    return urls;
  },
};
