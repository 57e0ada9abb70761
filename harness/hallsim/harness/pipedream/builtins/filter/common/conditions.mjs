// The registry Filter app's conditions and their labels (components/filter/common/conditions.mjs): binary
// conditions compare two values, unary ones look at the first only; text conditions take caseSensitive.
const option = (value, label) => ({ value, label });

export const BINARY = [
  option("CONTAINS", "[Text] Contains"),
  option("NOT_CONTAINS", "[Text] Does not contain"),
  option("TEXT_EQUALS", "[Text] Matches exactly"),
  option("TEXT_NOT_EQUALS", "[Text] Does not exactly match"),
  option("STARTS_WITH", "[Text] Starts with"),
  option("NOT_STARTS_WITH", "[Text] Does not start with"),
  option("ENDS_WITH", "[Text] Ends with"),
  option("NOT_ENDS_WITH", "[Text] Does not end with"),
  option("GREATER_THAN", "[Number] Greater than"),
  option("GREATER_THAN_EQUALS", "[Number] Greater than or equal to"),
  option("LESS_THAN", "[Number] Less than"),
  option("LESS_THAN_EQUALS", "[Number] Less than or equal to"),
  option("EQUALS", "[Number] Equal to"),
  option("IN_ARRAY", "[Array] Is present in array"),
  option("NOT_IN_ARRAY", "[Array] Is not present in array"),
  option("KEY_EXISTS", "[Object] Key exists and is not null or undefined"),
  option("KEY_NOT_EXISTS", "[Object] Key does not exist or value is null or undefined"),
];
export const UNARY = [
  option("TRUE", "[Boolean] Evaluates to True"),
  option("FALSE", "[Boolean] Evaluates to False"),
  option("IS_NULL", "[NULL] Is null or undefined"),
  option("NOT_NULL", "[NULL] Is not null or undefined"),
];
export const CONDITIONS = [...BINARY, ...UNARY];
export const isBinary = (condition) => BINARY.some((o) => o.value === condition);
export const isText = (condition) => BINARY.slice(0, 8).some((o) => o.value === condition);
