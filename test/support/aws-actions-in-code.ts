import { join } from "node:path";
import { type Node, parse } from "acorn";
import { full } from "acorn-walk";
import { buildSync } from "esbuild";

/**
 * The AWS actions a function's code can call, read from the code itself: its entry bundled as it
 * is deployed (esbuild, tree-shaken, dependencies left out), the SDK commands each adapter method
 * sends, and the adapter methods the bundled code names. An over-approximation at the level of a
 * method: a method named anywhere in the function's code counts with every command it can send.
 */
const ROOT = join(import.meta.dirname, "..", "..");

const SERVICE_OF_MODULE: Record<string, string> = {
  "@aws-sdk/client-iot": "iot",
  "@aws-sdk/client-iot-data-plane": "iot",
  "@aws-sdk/client-sqs": "sqs",
  "@aws-sdk/client-s3": "s3",
  "@aws-sdk/client-dynamodb": "dynamodb",
  "@aws-sdk/lib-dynamodb": "dynamodb",
  "@aws-sdk/client-lambda": "lambda",
};

// The document client's commands are named apart from the operations they send.
const DOCUMENT_OPERATIONS: Record<string, string> = {
  Get: "GetItem",
  Put: "PutItem",
  Update: "UpdateItem",
  Delete: "DeleteItem",
  BatchGet: "BatchGetItem",
  BatchWrite: "BatchWriteItem",
  TransactGet: "GetItem",
};
// A transaction is authorised item by item, on the item's own action.
const TRANSACTION_ITEMS: Record<string, string> = {
  Put: "PutItem",
  Update: "UpdateItem",
  ConditionCheck: "ConditionCheckItem",
  Delete: "DeleteItem",
};
// API operations whose IAM action has another name (Service Authorization Reference).
const ACTION_OF_OPERATION: Record<string, string> = {
  "s3:HeadObject": "s3:GetObject",
  "sqs:SendMessageBatch": "sqs:SendMessage",
  "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
  "lambda:Invoke": "lambda:InvokeFunction",
};

/** Libraries that call AWS themselves, with the actions they need. */
export const LIBRARY_ACTIONS: Record<string, readonly string[]> = {
  // Its DynamoDB persistence layer.
  "@aws-lambda-powertools/idempotency": [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
  ],
};

interface FileFacts {
  /** Actions of object-literal methods (the adapters), by method name. */
  readonly methods: Map<string, Set<string>>;
  /** Actions of code outside such methods. */
  readonly direct: Set<string>;
  /** Every property name the file reads or calls: the methods it may use. */
  readonly used: Set<string>;
  /** The packages whose imports the code uses. */
  readonly packages: Set<string>;
}

type AnyNode = Node & Record<string, unknown>;

const analyse = (source: string): FileFacts => {
  const program = parse(source, { ecmaVersion: "latest", sourceType: "module" }) as unknown as AnyNode;

  // Local name -> the SDK command it is, and the service that serves it.
  const commandService = new Map<string, { service: string; command: string }>();
  const functions = new Map<string, AnyNode[]>();
  const methodNodes: { name: string; node: AnyNode }[] = [];
  const used = new Set<string>();
  // Imports stay in the bundle whether or not they are used: a package counts when a name it
  // gave is referenced.
  const packageOf = new Map<string, string>();
  const referenced = new Set<string>();
  full(program, (raw, _state, type) => {
    const node = raw as AnyNode;
    if (node.type === "Identifier" && type !== "ImportSpecifier")
      referenced.add((node as unknown as { name: string }).name);
    if (node.type === "ImportDeclaration") {
      const from = (node.source as { value: string }).value;
      for (const specifier of node.specifiers as { local: { name: string } }[])
        packageOf.set(
          specifier.local.name,
          from
            .split("/")
            .slice(0, from.startsWith("@") ? 2 : 1)
            .join("/"),
        );
      const service = SERVICE_OF_MODULE[from];
      if (service)
        for (const specifier of node.specifiers as { local: { name: string }; imported?: { name: string } }[])
          commandService.set(specifier.local.name, {
            service,
            command: specifier.imported?.name ?? specifier.local.name,
          });
    }
    if (node.type === "FunctionDeclaration" && node.id)
      addTo(functions, (node.id as { name: string }).name, node);
    if (
      node.type === "VariableDeclarator" &&
      (node.id as AnyNode).type === "Identifier" &&
      isFunction(node.init)
    )
      addTo(functions, (node.id as unknown as { name: string }).name, node.init as AnyNode);
    if (node.type === "Property" && (node.key as AnyNode).type === "Identifier") {
      if (isFunction(node.value))
        methodNodes.push({
          name: (node.key as unknown as { name: string }).name,
          node: node.value as AnyNode,
        });
    }
    if (node.type === "MemberExpression" && !node.computed)
      used.add((node.property as unknown as { name: string }).name);
  });

  const actionsOf = (start: AnyNode, visited = new Set<AnyNode>()): Set<string> => {
    const commands: { name: string; service: string; args: string }[] = [];
    const items = new Set<string>();
    const visit = (root: AnyNode) => {
      if (visited.has(root)) return;
      visited.add(root);
      walk(root, visited, (node) => {
        if (node.type === "NewExpression" && (node.callee as AnyNode).type === "Identifier") {
          const sdk = commandService.get((node.callee as unknown as { name: string }).name);
          if (sdk?.command.endsWith("Command"))
            commands.push({
              name: sdk.command.slice(0, -"Command".length),
              service: sdk.service,
              args: source.slice(node.start, node.end),
            });
        }
        if (node.type === "Property" && (node.key as AnyNode).type === "Identifier") {
          const key = (node.key as unknown as { name: string }).name;
          if (key in TRANSACTION_ITEMS && (node.value as AnyNode).type === "ObjectExpression") items.add(key);
        }
        if (node.type === "Identifier")
          for (const target of functions.get((node as unknown as { name: string }).name) ?? []) visit(target);
      });
    };
    visit(start);
    const actions = new Set<string>();
    for (const { name, service, args } of commands) {
      if (name === "TransactWrite" || name === "TransactWriteItems") {
        for (const item of items) actions.add(`dynamodb:${TRANSACTION_ITEMS[item]}`);
        continue;
      }
      const operation = service === "dynamodb" ? (DOCUMENT_OPERATIONS[name] ?? name) : name;
      const action = `${service}:${operation}`;
      actions.add(ACTION_OF_OPERATION[action] ?? action);
      // Reading an object at a version needs its own grant.
      if (service === "s3" && /\bVersionId\b/.test(args) && (name === "GetObject" || name === "HeadObject"))
        actions.add("s3:GetObjectVersion");
    }
    return actions;
  };

  // A method counts with what it sends itself and what the functions it names send, never with
  // the other methods of its object (those count when they are named).
  const methods = new Map<string, Set<string>>();
  const insideMethods = new Set(methodNodes.map(({ node }) => node));
  for (const { name, node } of methodNodes) {
    const others = new Set(insideMethods);
    others.delete(node);
    const actions = actionsOf(node, others);
    if (actions.size > 0) methods.set(name, new Set([...(methods.get(name) ?? []), ...actions]));
  }
  // Everything else counts as reached with the file: module-level code and the functions it names.
  const direct = new Set<string>();
  for (const statement of program.body as AnyNode[])
    for (const action of actionsOf(statement, new Set(insideMethods))) direct.add(action);
  const packages = new Set([...packageOf].filter(([name]) => referenced.has(name)).map(([, from]) => from));
  return { methods, direct, used, packages };
};

const isFunction = (node: unknown): boolean =>
  (node as AnyNode | null)?.type === "FunctionExpression" ||
  (node as AnyNode | null)?.type === "ArrowFunctionExpression";

/** Visits every node under `root`, not entering the subtrees in `skip`. */
const walk = (root: AnyNode, skip: ReadonlySet<AnyNode>, visit: (node: AnyNode) => void): void => {
  visit(root);
  for (const value of Object.values(root)) {
    for (const child of Array.isArray(value) ? value : [value]) {
      if (
        child &&
        typeof child === "object" &&
        typeof (child as AnyNode).type === "string" &&
        !skip.has(child)
      )
        walk(child as AnyNode, skip, visit);
    }
  }
};

const addTo = <K, V>(map: Map<K, V[]>, key: K, value: V) => map.set(key, [...(map.get(key) ?? []), value]);

/** The AWS actions the code of a function entry (e.g. `functions/jitr.ts`) can call. */
export const awsActionsOf = (entry: string): Set<string> => {
  const build = buildSync({
    entryPoints: [join(ROOT, entry)],
    absWorkingDir: ROOT,
    bundle: true,
    write: false,
    platform: "node",
    format: "esm",
    packages: "external",
    treeShaking: true,
    logLevel: "silent",
  });
  const code = build.outputFiles[0]?.text ?? "";
  const facts = analyse(code);
  const actions = new Set(facts.direct);
  for (const [method, methodActions] of facts.methods)
    if (facts.used.has(method)) for (const action of methodActions) actions.add(action);
  for (const library of facts.packages)
    for (const action of LIBRARY_ACTIONS[library] ?? []) actions.add(action);
  return actions;
};
