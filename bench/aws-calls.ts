import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateThingGroupCommand, IoTClient } from "@aws-sdk/client-iot";
import type { Context } from "aws-lambda";
import { createCa, issueDeviceCertificate } from "#local/dev-pki.js";
import { firstConnect, registerCa, sqsEvent } from "#local/iot-simulator.js";
import { startMotoServer, useMotoEnvironment } from "#local/moto-server.js";

/**
 * IoT and DynamoDB calls per provisioned device, counted on the SDK clients the handler uses,
 * through the real handler against moto. The first device of a container also pays for the CA
 * lookup and the policy creation; the steady state is what the quotas see.
 */
const DEVICES = Number(process.env.BENCH_CALL_DEVICES ?? 50);

export const benchAwsCalls = async () => {
  const moto = await startMotoServer();
  try {
    useMotoEnvironment(moto.endpoint, {
      DEVICES_TABLE: "bench",
      DEVICE_THING_GROUP: "bench-devices",
      IOT_QUOTA_SHARE: "100",
    });
    const { lifecycleTableDefinition } = await import("#adapters/table-definition.js");
    await new DynamoDBClient({}).send(new CreateTableCommand(lifecycleTableDefinition("bench")));
    const iot = new IoTClient({});
    await iot.send(new CreateThingGroupCommand({ thingGroupName: "bench-devices" }));
    const ca = await createCa();
    const caCertificateId = await registerCa(iot, ca);
    const { registerBatch } = await import("#app/register-batch.js");
    const { manifestDeps } = await import("#adapters/wiring.js");
    const ids = Array.from({ length: DEVICES + 1 }, (_, i) => `bench-${i}`);
    await registerBatch(
      manifestDeps({ DEVICES_TABLE: "bench", THING_TYPE_NAME: undefined, FACTORY_PUBLIC_KEYS: undefined }),
      {
        open: () => [Buffer.from(`deviceId\n${ids.join("\n")}\n`)],
        caCertificateId,
        actor: "bench",
        source: "bench",
      },
    );
    const messages = [];
    for (const id of ids)
      messages.push(
        await firstConnect(iot, await issueDeviceCertificate(ca, { deviceId: id }), {
          pem: ca.pem,
          caCertificateId,
        }),
      );

    const clients = await import("#adapters/aws-clients.js");
    const counts = { iot: new Map<string, number>(), dynamodb: new Map<string, number>() };
    for (const [service, client] of [
      ["iot", clients.iotClient()],
      ["dynamodb", clients.documentClient()],
    ] as const) {
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const name = (context as { commandName?: string }).commandName ?? "?";
          counts[service].set(name, (counts[service].get(name) ?? 0) + 1);
          return next(args);
        },
        { step: "initialize" },
      );
    }
    const { handler } = await import("#functions/jitr.js");
    const context = { functionName: "bench" } as Context;
    const total = (map: Map<string, number>) => [...map.values()].reduce((a, b) => a + b, 0);
    const describe = (map: Map<string, number>, n: number) =>
      [...map.entries()]
        .map(([name, count]) => `${name.replace(/Command$/, "")}=${(count / n).toFixed(2)}`)
        .join(" ");

    await handler(sqsEvent([messages[0] as object]), context);
    const cold = {
      iot: total(counts.iot),
      dynamodb: total(counts.dynamodb),
      detail: `${describe(counts.iot, 1)} | ${describe(counts.dynamodb, 1)}`,
    };
    counts.iot.clear();
    counts.dynamodb.clear();
    const started = performance.now();
    for (let i = 1; i < messages.length; i += 10) {
      const response = await handler(sqsEvent(messages.slice(i, i + 10) as object[]), context);
      if (response.batchItemFailures.length > 0) throw new Error("bench provisioning failed");
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      rows: [
        {
          phase: "first device of a container",
          devices: 1,
          "IoT calls/device": cold.iot,
          "DynamoDB calls/device": cold.dynamodb,
        },
        {
          phase: "steady state",
          devices: DEVICES,
          "IoT calls/device": (total(counts.iot) / DEVICES).toFixed(2),
          "DynamoDB calls/device": (total(counts.dynamodb) / DEVICES).toFixed(2),
        },
      ],
      coldDetail: cold.detail,
      steadyDetail: `${describe(counts.iot, DEVICES)} | ${describe(counts.dynamodb, DEVICES)}`,
      motoDevicesPerSecond: (DEVICES / seconds).toFixed(1),
    };
  } finally {
    await moto.stop();
  }
};
