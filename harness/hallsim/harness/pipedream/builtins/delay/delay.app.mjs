// hallsim's model of the registry's Delay app (components/delay/delay.app.mjs): a duration value and unit,
// and convertToMilliseconds for $.flow.delay.
const FACTORS = { Milliseconds: 1, Seconds: 1000, Minutes: 60 * 1000, Hours: 60 * 60 * 1000 };

export default {
  type: "app",
  app: "delay",
  propDefinitions: {
    delayDurationValue: { type: "integer" },
    delayDurationUnit: { type: "string", options: Object.keys(FACTORS) },
  },
  methods: {
    convertToMilliseconds(unit, value) {
      if (!Object.hasOwn(FACTORS, unit)) throw new Error("something here"); // the registry app's own message
      return unit === "Milliseconds" ? value : value * FACTORS[unit];
    },
  },
};
