import { runDemo } from "./demo.js";
import { localCliEnvironment } from "./local-cli.js";
import { startLocalStack } from "./local-stack.js";

/**
 * npm start: the local AWS on loopback ports, the packaged stack deployed on it, the demo's devices
 * and operations, then (in a terminal) the deployed API kept serving for the CLI until Ctrl-C.
 */
const say = (line: string) => console.log(line);
const started = Date.now();
const stack = await startLocalStack((step) => say(`… ${step}`));
say(`stack ${stack.stack.stackName} deployed in ${Math.round((Date.now() - started) / 1000)} s`);
say(`  operations API  ${stack.apiUrl}`);
say(`  IoT endpoint    ${stack.mqtt.serverName} (mutual TLS on 127.0.0.1:${stack.mqtt.port})`);
say(`  emulator log    ${stack.aws.logPath}\n`);
try {
  const report = await runDemo(stack, say);
  const times = [...report.firstPublishMs].sort((a, b) => a - b);
  if (times.length > 0)
    say(`first CONNECT to first publish, good devices: ${times.map((t) => `${t} ms`).join(", ")}`);
  if (process.stdin.isTTY) {
    say("\nThe stack keeps serving. In another shell, the CLI talks to the deployed API:");
    say(
      `  export ${Object.entries(localCliEnvironment(stack))
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}`,
    );
    say("  npx fleetgate device show demo-sensor-001");
    say("  npx fleetgate device events demo-sensor-003");
    say("Ctrl-C stops it (and the emulator).");
    await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
  }
} finally {
  await stack.stop();
}
