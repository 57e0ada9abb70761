// Pipedream's two kinds of Filter step (pipedream.md "Filter steps"). Both end the whole workflow with
// $.flow.exit when the condition says stop; they never skip single steps. They compare differently:
//
// - the registry Filter app actions "Continue execution if a condition Is met" / "End execution if a condition
//   is met" (PipedreamHQ/pipedream components/filter: filter.app.mjs checkCondition, actions/
//   continue-based-on-condition, end-based-on-condition): EQUALS parses both sides as numbers and throws on a
//   boolean; TRUE/FALSE use JavaScript truthiness; text conditions lower-case their input unless case
//   sensitive (so a boolean throws); IS_NULL matches null, undefined, "null" and "undefined".
// - the rule-builder filter: `bool=` needs two real booleans, `num=` compares +a === +b, `str=` compares
//   case-insensitively unless match case is set, `exist` is `!== undefined`; groups combine with AND/OR.

import { ConfigurationError } from "./platform.mjs";

// --- registry Filter app --------------------------------------------------------------------------------

function text(value, caseSensitive) {
  return caseSensitive ? value : value.toLowerCase(); // a non-string throws, as in the registry action
}

function number(value) {
  const n = parseFloat(value);
  if (Number.isNaN(n)) throw new Error("Input cannot be converted to a number");
  return n;
}

function isNullish(value) {
  return value === null || value === undefined || value === "null" || value === "undefined";
}

// filter.app.mjs `parse`: any failure becomes `new ConfigurationError(e)` (its message is String(e)); a JSON
// `null` passes as an object, so KEY_EXISTS then throws a TypeError on `in`
function parseAs(value, type) {
  if (type === "array" && Array.isArray(value)) return value;
  if (type === "object" && value !== null && typeof value === "object" && !Array.isArray(value)) return value;
  try {
    const parsed = JSON.parse(value);
    if (type === "array" && !Array.isArray(parsed)) throw new Error("Unable to parse second value to array");
    if (type === "object" && (typeof parsed !== "object" || Array.isArray(parsed))) {
      throw new Error("Unable to parse second value to object");
    }
    return parsed;
  } catch (err) {
    throw new ConfigurationError(err);
  }
}

const REGISTRY = {
  CONTAINS: (a, b, cs) => text(a, cs).includes(text(b, cs)),
  NOT_CONTAINS: (a, b, cs) => !text(a, cs).includes(text(b, cs)),
  TEXT_EQUALS: (a, b, cs) => text(a, cs) === text(b, cs),
  TEXT_NOT_EQUALS: (a, b, cs) => text(a, cs) !== text(b, cs),
  STARTS_WITH: (a, b, cs) => text(a, cs).startsWith(text(b, cs)),
  NOT_STARTS_WITH: (a, b, cs) => !text(a, cs).startsWith(text(b, cs)),
  ENDS_WITH: (a, b, cs) => text(a, cs).endsWith(text(b, cs)),
  NOT_ENDS_WITH: (a, b, cs) => !text(a, cs).endsWith(text(b, cs)),
  GREATER_THAN: (a, b) => number(a) > number(b),
  GREATER_THAN_EQUALS: (a, b) => number(a) >= number(b),
  LESS_THAN: (a, b) => number(a) < number(b),
  LESS_THAN_EQUALS: (a, b) => number(a) <= number(b),
  EQUALS: (a, b) => number(a) === number(b),
  TRUE: (a) => Boolean(a),
  FALSE: (a) => !a,
  IS_NULL: (a) => isNullish(a),
  NOT_NULL: (a) => !isNullish(a),
  IN_ARRAY: (a, b) => parseAs(b, "array").includes(a),
  NOT_IN_ARRAY: (a, b) => !parseAs(b, "array").includes(a),
  KEY_EXISTS: (a, b) => {
    const object = parseAs(b, "object");
    return a in object && !isNullish(object[a]);
  },
  KEY_NOT_EXISTS: (a, b) => {
    const object = parseAs(b, "object");
    return !(a in object && !isNullish(object[a]));
  },
};

export const REGISTRY_CONDITIONS = Object.keys(REGISTRY);

/** filter.app.mjs `checkCondition(condition, operand1, operand2, caseSensitive)` (the built-in Filter app). */
export function checkRegistryCondition(condition, operand1, operand2, caseSensitive) {
  const check = Object.hasOwn(REGISTRY, condition) ? REGISTRY[condition] : null;
  if (!check) throw new Error("Condition operation not supported");
  return check(operand1, operand2, Boolean(caseSensitive));
}

/** Runs a registry Filter action; returns the step's return value, or calls $.flow.exit. */
export function runRegistryFilter(config, $) {
  const result = checkRegistryCondition(config.condition, config.value, config.compare_to, config.case_sensitive);
  // continue-based-on-condition: `!result && $.flow.exit(messageOnEnd)`; end-based-on-condition: `result && ...`
  const stop = config.action === "end" ? result : !result;
  if (stop) $.flow.exit(config.message_on_end);
  return config.message_on_continue;
}

// --- rule-builder filter ----------------------------------------------------------------------------------

function sameText(a, b, matchCase) {
  return a.localeCompare(b, undefined, { sensitivity: matchCase ? "variant" : "base" }) === 0;
}

const RULES = {
  exist: (a) => a !== undefined,
  "!exist": (a) => a === undefined,
  null: (a) => a === null,
  "!null": (a) => a !== null,
  str: (a) => typeof a === "string",
  "!str": (a) => typeof a !== "string",
  "str ": (a) => typeof a === "string" && /^\s*$/.test(a),
  "str! ": (a) => typeof a === "string" && !/^\s*$/.test(a),
  "str=": (a, b, mc) => typeof a === "string" && typeof b === "string" && sameText(a, b, mc),
  "str!=": (a, b, mc) => typeof a === "string" && typeof b === "string" && !sameText(a, b, mc),
  "str^": (a, b, mc) =>
    typeof a === "string" && typeof b === "string" && (mc ? a.startsWith(b) : a.toLowerCase().startsWith(b.toLowerCase())),
  "str/": (a, b, mc) =>
    typeof a === "string" && typeof b === "string" && (mc ? a.includes(b) : a.toLowerCase().includes(b.toLowerCase())),
  "str!/": (a, b, mc) =>
    typeof a === "string" && typeof b === "string" && !(mc ? a.includes(b) : a.toLowerCase().includes(b.toLowerCase())),
  "str$": (a, b, mc) =>
    typeof a === "string" && typeof b === "string" && (mc ? a.endsWith(b) : a.toLowerCase().endsWith(b.toLowerCase())),
  num: (a) => typeof a === "number",
  "!num": (a) => typeof a !== "number",
  "num=": (a, b) => +a === +b,
  "num!=": (a, b) => +a !== +b,
  "num>": (a, b) => +a > +b,
  "num>=": (a, b) => +a >= +b,
  "num<": (a, b) => +a < +b,
  "num<=": (a, b) => +a <= +b,
  true: (a) => a === true,
  false: (a) => a === false,
  bool: (a) => typeof a === "boolean",
  "!bool": (a) => typeof a !== "boolean",
  "bool=": (a, b) => typeof a === "boolean" && typeof b === "boolean" && a === b,
};

export const RULE_OPS = Object.keys(RULES);

function evalGroup(group) {
  const all = group.match !== "any";
  let value = all;
  for (const rule of group.rules) {
    const ok = rule.rules ? evalGroup(rule) : evalRule(rule);
    value = all ? value && ok : value || ok;
  }
  return value;
}

function evalRule(rule) {
  const check = RULES[rule.op];
  if (!check) throw new Error(`unhandled op: ${rule.op}`);
  return check(rule.value, rule.to, Boolean(rule.match_case));
}

/** Runs a rule-builder filter: exports `$summary` when it continues, else calls $.flow.exit. */
export function runRuleBuilderFilter(config, $) {
  const met = evalGroup(config);
  const proceed = config.when_met === "end" ? !met : met;
  if (proceed) $.export("$summary", "Continuing workflow");
  else $.flow.exit("Ending workflow");
}
