import { ValidationError } from "./errors.js";

/** Values substituted into `{{name}}` placeholders of a policy template. */
export interface PolicyContext {
  readonly region: string;
  readonly accountId: string;
  readonly topicPrefix: string;
}

const CONTEXT_RULES: Record<keyof PolicyContext, RegExp> = {
  region: /^[a-z]{2}(-[a-z]+)+-\d$/,
  accountId: /^\d{12}$/,
  // A topic level or two, never a wildcard: the prefix must not widen the policy.
  topicPrefix: /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/,
};

const PLACEHOLDER = /\{\{(\w+)\}\}/g;
// IoT Core's limit for a policy document, counted without white space.
export const MAX_POLICY_CHARACTERS = 2048;

/**
 * Renders a policy template (JSON with `{{name}}` placeholders; IoT policy variables such as
 * `${iot:Connection.Thing.ThingName}` pass through untouched) and lints the result.
 */
export const renderDevicePolicy = (template: string, context: PolicyContext): string => {
  for (const [name, rule] of Object.entries(CONTEXT_RULES)) {
    const value = context[name as keyof PolicyContext];
    if (!rule.test(value)) throw new ValidationError(`policy ${name} ${JSON.stringify(value)} is not valid`);
  }
  const rendered = template.replace(PLACEHOLDER, (_, name: string) => {
    if (!(name in CONTEXT_RULES))
      throw new ValidationError(`policy template uses unknown placeholder {{${name}}}`);
    return context[name as keyof PolicyContext];
  });
  let document: string;
  try {
    document = JSON.stringify(JSON.parse(rendered));
  } catch {
    throw new ValidationError("device policy template is not JSON");
  }
  const findings = lintDevicePolicy(document);
  if (findings.length > 0) throw new ValidationError("device policy is not least-privilege", findings);
  return document;
};

const THING = "${iot:Connection.Thing.ThingName}";
// Wildcards of policies (* any run of characters, ? one) and of MQTT topic filters (+ a level,
// # the rest): in a topicfilter resource the latter grant wildcard subscriptions.
const WILDCARD = /[*?+#]/;
const IOT_ARN_HEAD = /^arn:aws[a-z-]*:iot:[^:]*:[^:]*:/;
const RECEIVE = "iot:receive";
const CONNECT = "iot:connect";

/**
 * Flags what AWS IoT Device Defender's IOT_POLICY_OVERLY_PERMISSIVE_CHECK and our own rules
 * forbid in a device policy. The document is read as an attacker would write it: every Allow must
 * stand on its own (a Deny cannot be relied on to narrow it), and whatever is not of the expected
 * shape is a finding, never a pass. Returns one line per finding; empty means clean.
 */
export const lintDevicePolicy = (document: string): string[] => {
  const findings: string[] = [];
  if (document.replace(/\s/g, "").length > MAX_POLICY_CHARACTERS) {
    findings.push(`document exceeds ${MAX_POLICY_CHARACTERS} characters without white space`);
  }
  let statements: unknown[];
  try {
    const statement = (JSON.parse(document) as { Statement?: unknown }).Statement;
    statements = statement === undefined ? [] : [statement].flat();
  } catch {
    return ["document is not JSON"];
  }
  for (const [index, statement] of statements.entries()) {
    findings.push(...lintStatement(statement).map((finding) => `statement ${index + 1}: ${finding}`));
  }
  return findings;
};

const lintStatement = (statement: unknown): string[] => {
  if (typeof statement !== "object" || statement === null || Array.isArray(statement))
    return ["not an object"];
  const { Effect: effect, Condition: condition } = statement as Record<string, unknown>;
  // A Deny only takes away; what it fails to take away is the Allow's finding.
  if (effect === "Deny") return [];
  if (effect !== "Allow") return [`Effect ${JSON.stringify(effect)} is neither "Allow" nor "Deny"`];
  const findings: string[] = [];
  for (const inverted of ["NotAction", "NotResource"]) {
    if (inverted in statement) findings.push(`Allow with ${inverted} grants everything it does not name`);
  }
  const actions = strings(statement, "Action", findings).map((action) => action.toLowerCase());
  const resources = strings(statement, "Resource", findings);
  if (actions.some((action) => /[*?]/.test(action))) findings.push("wildcard action");
  // Device Defender accepts Receive on any topic: a device only receives what it may subscribe to.
  const receiveOnly = actions.length > 0 && actions.every((action) => action === RECEIVE);
  if (!receiveOnly) {
    for (const resource of resources) {
      const problem = scopeProblem(resource);
      if (problem) findings.push(`resource ${resource} ${problem}`);
    }
  }
  if (actions.includes(CONNECT)) {
    const attached = (condition as { Bool?: Record<string, unknown> } | undefined)?.Bool?.[
      "iot:Connection.Thing.IsAttached"
    ];
    if (attached !== "true" && attached !== true)
      findings.push("iot:Connect without the IsAttached condition");
  }
  return findings;
};

/** A field that holds a string or a list of strings; anything else is a finding. */
const strings = (statement: object, field: string, findings: string[]): string[] => {
  const value = (statement as Record<string, unknown>)[field];
  if (value === undefined) return [];
  const values = [value].flat();
  if (values.every((item): item is string => typeof item === "string")) return values;
  findings.push(`${field} must be a string or a list of strings`);
  return values.filter((item): item is string => typeof item === "string");
};

// Every resource names the connecting thing in its path, with no wildcard before it or in its
// level: `devices/${thing}*` or `*/${thing}/*` would also match another device's topics.
const scopeProblem = (resource: string): string | undefined => {
  const head = IOT_ARN_HEAD.exec(resource);
  const at = resource.indexOf(THING);
  if (!head || at < head[0].length) return "is not scoped to the connecting thing";
  const levelEnd = resource.indexOf("/", at + THING.length);
  const reach = resource.slice(0, levelEnd < 0 ? resource.length : levelEnd);
  if (WILDCARD.test(reach)) return "has a wildcard before or beside the connecting thing's name";
  return undefined;
};
