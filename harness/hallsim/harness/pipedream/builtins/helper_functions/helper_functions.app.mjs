// hallsim's model of the Helper Functions app (components/helper_functions/helper_functions.app.mjs): the
// End Workflow action needs only the app prop itself.
export default {
  type: "app",
  app: "helper_functions",
  propDefinitions: {},
  methods: {},
};
