import { IoTClient } from "@aws-sdk/client-iot";
import { createCa, exportPrivateKeyPem, issueDeviceCertificate } from "#local/dev-pki.js";
import { connectWithRetries } from "#local/device.js";
import { localCli } from "#local/local-cli.js";
import { startLocalStack } from "#local/local-stack.js";
import { localClientConfig } from "#local/ministack.js";
import { registerCaForJitr } from "#local/register-ca.js";

/**
 * First CONNECT to first acknowledged publish, for devices one after the other, on the packaged
 * stack deployed on the local AWS: JITR registration, the topic rule, the queue (its 2 s batching
 * window included), the JITR function, the device's retry with backoff (250 ms, doubling).
 * Not a claim about AWS: its own latencies differ.
 */
const DEVICES = Number(process.env.BENCH_FIRST_CONNECT_DEVICES ?? 10);

export const benchFirstConnect = async () => {
  const stack = await startLocalStack();
  try {
    const iot = new IoTClient(localClientConfig(stack.aws));
    const ca = await createCa({ name: `bench line ${Date.now()}` });
    const caCertificateId = await registerCaForJitr(iot, ca);
    const ids = Array.from({ length: DEVICES }, (_, i) => `bench-first-${i}`);
    const { writeFileSync } = await import("node:fs");
    const manifest = `${stack.aws.logPath}.csv`;
    writeFileSync(manifest, `deviceId\n${ids.join("\n")}\n`);
    const registered = await localCli(stack)(["batch", "register", manifest, "--ca", caCertificateId]);
    if (registered.code !== 0) throw new Error(registered.stderr);
    const times: number[] = [];
    const connects: number[] = [];
    for (const deviceId of ids) {
      const certificate = await issueDeviceCertificate(ca, { deviceId });
      const identity = {
        clientId: deviceId,
        certificateChainPem: `${certificate.pem}\n${ca.pem}\n`,
        privateKeyPem: await exportPrivateKeyPem(certificate.keys.privateKey),
      };
      const started = Date.now();
      const result = await connectWithRetries(identity, stack.mqtt);
      if (!result.session) throw new Error(`${deviceId} was not accepted`);
      await result.session.publish(`devices/${deviceId}/telemetry`, "{}");
      times.push(Date.now() - started);
      connects.push(result.attempts.length);
      await result.session.end();
    }
    const sorted = [...times].sort((a, b) => a - b);
    return {
      devices: DEVICES,
      "min ms": sorted[0],
      "median ms": sorted[Math.floor(sorted.length / 2)],
      "max ms": sorted.at(-1),
      "CONNECTs per device (median)": [...connects].sort((a, b) => a - b)[Math.floor(connects.length / 2)],
    };
  } finally {
    await stack.stop();
  }
};
