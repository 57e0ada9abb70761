// Prop values: `{{ expression }}` over `steps` and `process.env`, as Pipedream's step editor writes them
// (docs "Using props" / "Referencing data from previous steps": `{{steps.trigger.event.body}}`,
// `{{process.env.NAME}}`). A value that is one whole expression keeps the expression's type (a boolean stays
// a boolean, an object an object); an expression inside other text is stringified into it.

export class PropExpressionError extends Error {
  constructor(message) {
    super(message);
    this.name = "PropExpressionError";
  }
}

function evalExpression(expression, scope, where) {
  let fn;
  try {
    fn = new Function("steps", "process", `"use strict"; return (${expression});`);
  } catch (err) {
    throw new PropExpressionError(`${where}: {{${expression}}} is not a valid expression: ${err.message}`);
  }
  try {
    return fn(scope.steps, { env: { ...scope.env } });
  } catch (err) {
    throw new PropExpressionError(`${where}: {{${expression}}} failed: ${err?.name}: ${err?.message}`);
  }
}

export function evaluate(value, scope, where) {
  if (typeof value === "string") {
    if (!value.includes("{{")) return value;
    const whole = /^\s*\{\{([\s\S]+?)\}\}\s*$/.exec(value);
    if (whole && !whole[1].includes("}}") && !whole[1].includes("{{")) return evalExpression(whole[1], scope, where);
    return value.replace(/\{\{([\s\S]+?)\}\}/g, (_, expression) => {
      const result = evalExpression(expression, scope, where);
      if (result === undefined) return "";
      return typeof result === "object" && result !== null ? JSON.stringify(result) : String(result);
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => evaluate(item, scope, `${where}[${i}]`));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, evaluate(v, scope, `${where}.${k}`)]));
  }
  return value;
}
