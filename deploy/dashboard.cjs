// The CloudWatch dashboard of a deployment (serverless.yml, resource Dashboard), as the body of an
// Fn::Sub: ${Logical.Attribute} placeholders name the stack's own functions, queues, API and alarms.
// README "Watching it" says what each widget means and what to do when it moves.

const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const { parse } = require("yaml");

// What the dashboard shows is read from serverless.yml itself, so a function, queue or alarm added
// there is on it: every function's errors and throttles, every queue, every alarm's state.
const service = () => {
  const text = readFileSync(join(__dirname, "..", "serverless.yml"), "utf8");
  // CloudFormation's tags (!Ref, !Sub) are unknown here; only names and types are read.
  return parse(text, { merge: true, logLevel: "silent" });
};
// osls names a function's resource by its key, first letter up.
const functionResource = (name) => `${name[0].toUpperCase()}${name.slice(1)}LambdaFunction`;
const label = (id) =>
  id
    .replace(/Queue$/, "")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toLowerCase();

const ours = (name, options = {}) => ["Fleetgate", name, "service", "fleetgate", options];
// Each reason is its own line (its label is its Reason); an expression stands alone in its array.
const search = (name, id) => [
  { expression: `SEARCH('{Fleetgate,Reason,service} MetricName="${name}"', 'Sum', 300)`, id },
];

const graph = (title, metrics, extra = {}) => ({
  type: "metric",
  width: 12,
  height: 6,
  properties: {
    title,
    region: "${AWS::Region}",
    view: "timeSeries",
    stacked: false,
    period: 300,
    stat: "Sum",
    metrics,
    ...extra,
  },
});

const widgets = ({ functions, workQueues, deadLetterQueues, alarms }) => [
  {
    type: "alarm",
    width: 24,
    height: 4,
    properties: {
      title: "Alarms (each notifies the alarm topic)",
      alarms: alarms.map((id) => `\${${id}.Arn}`),
    },
  },
  graph("Provisioning rate (devices per 5 minutes)", [
    ours("Provisioned", { label: "provisioned" }),
    ours("RepeatedEvent", { label: "repeated event (nothing to do)" }),
    ours("RetriedEvent", { label: "failed for our reasons, retried" }),
    ours("MalformedEvent", { label: "malformed event, dropped" }),
  ]),
  graph(
    "Provisioning latency: JITR function duration and the queue's oldest event",
    [
      ...[
        ["p50", "duration p50 (ms)"],
        ["p99", "duration p99 (ms)"],
        ["Maximum", "duration max (ms)"],
      ].map(([stat, label]) => [
        "AWS/Lambda",
        "Duration",
        "FunctionName",
        "${JitrLambdaFunction}",
        { stat, label },
      ]),
      [
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "QueueName",
        "${JitrQueue.QueueName}",
        { stat: "Maximum", yAxis: "right", label: "oldest event waiting (s)" },
      ],
    ],
    { stat: "Average" },
  ),
  graph("Refusals by reason (revoked certificates)", [
    search("Refused", "refused"),
    ours("SecurityEvent", { label: "security events (clone, forged signature, pin mismatch)" }),
  ]),
  graph("Waiting by reason (early devices, not revoked)", [search("Waiting", "waiting")]),
  graph(
    "Queue depth (messages visible)",
    [...workQueues, ...deadLetterQueues].map(([label, id]) => [
      "AWS/SQS",
      "ApproximateNumberOfMessagesVisible",
      "QueueName",
      `\${${id}.QueueName}`,
      { label },
    ]),
    { stat: "Maximum" },
  ),
  graph(
    "Queue age (oldest message, seconds)",
    [...workQueues, ...deadLetterQueues].map(([label, id]) => [
      "AWS/SQS",
      "ApproximateAgeOfOldestMessage",
      "QueueName",
      `\${${id}.QueueName}`,
      { label },
    ]),
    { stat: "Maximum" },
  ),
  graph(
    "Lambda errors (failed invocations)",
    functions.map(([label, id]) => ["AWS/Lambda", "Errors", "FunctionName", `\${${id}}`, { label }]),
  ),
  graph(
    "Lambda throttles",
    functions.map(([label, id]) => ["AWS/Lambda", "Throttles", "FunctionName", `\${${id}}`, { label }]),
  ),
  graph("Operations API answers", [
    ["AWS/ApiGateway", "Count", "ApiId", "${HttpApi}", { label: "requests" }],
    ["AWS/ApiGateway", "4xx", "ApiId", "${HttpApi}", { label: "4xx (refused: input, IAM, not found)" }],
    ["AWS/ApiGateway", "5xx", "ApiId", "${HttpApi}", { label: "5xx (failed)" }],
  ]),
  graph("Batches and recalls", [
    ours("DevicesAllowed", { label: "devices put on the allowlist (uploads)" }),
    ours("BatchFailed", { label: "batches FAILED" }),
    ours("ManifestRefused", { label: "uploaded manifests refused whole" }),
    ours("DevicesRecalled", { label: "devices revoked by recalls" }),
    ours("DevicesRecallFailed", { label: "devices a recall could not revoke" }),
  ]),
  graph("JITR events from IoT Core", [
    ["AWS/IoT", "TopicMatch", "RuleName", "${JitrTopicRule}", { label: "events matched by the rule" }],
    ["Fleetgate", "JitrRuleActionFailed", { label: "events not delivered to the queue" }],
  ]),
];

const lists = () => {
  const { functions, resources } = service();
  const ofType = (type) =>
    Object.entries(resources.Resources)
      .filter(([, resource]) => resource.Type === type)
      .map(([id]) => id);
  const queues = ofType("AWS::SQS::Queue").map((id) => [label(id), id]);
  return {
    functions: Object.keys(functions).map((name) => [name, functionResource(name)]),
    workQueues: queues.filter(([, id]) => !id.endsWith("DeadLetterQueue")),
    deadLetterQueues: queues.filter(([, id]) => id.endsWith("DeadLetterQueue")),
    alarms: ofType("AWS::CloudWatch::Alarm"),
  };
};

module.exports.body = () => JSON.stringify({ widgets: widgets(lists()) });
