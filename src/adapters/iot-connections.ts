import { DescribeEndpointCommand, type IoTClient } from "@aws-sdk/client-iot";
import { DeleteConnectionCommand, IoTDataPlaneClient } from "@aws-sdk/client-iot-data-plane";
import type { ConnectionControl } from "#app/ports.js";
import { NotFoundError } from "#domain/errors.js";
import { call } from "./aws-errors.js";

/**
 * IoT Core's data plane client, made on first use: its endpoint is the account's own, looked up
 * once per container (a failed lookup is tried again next time).
 */
export const iotDataPlane = (
  iot: IoTClient,
  options: { endpointOverridden: boolean },
): (() => Promise<IoTDataPlaneClient>) => {
  let data: Promise<IoTDataPlaneClient> | undefined;
  return () => {
    // Under an emulator (AWS_ENDPOINT_URL) every client already talks to it.
    data ??= options.endpointOverridden
      ? Promise.resolve(new IoTDataPlaneClient({ maxAttempts: 2 }))
      : call("DescribeEndpoint", () =>
          iot.send(new DescribeEndpointCommand({ endpointType: "iot:Data-ATS" })),
        ).then(
          (out) => new IoTDataPlaneClient({ endpoint: `https://${out.endpointAddress}`, maxAttempts: 2 }),
        );
    data.catch(() => {
      data = undefined;
    });
    return data;
  };
};

/**
 * Drops live MQTT connections through IoT Core's data plane (DeleteConnection). A failure is
 * reported, not thrown: the certificate is already off, and IoT Core drops the connection within
 * minutes anyway.
 */
export const iotConnections = (
  iot: IoTClient,
  options: { endpointOverridden: boolean },
): ConnectionControl => {
  const client = iotDataPlane(iot, options);
  return {
    async disconnect(clientId) {
      try {
        const plane = await client();
        await call("DeleteConnection", () =>
          plane.send(new DeleteConnectionCommand({ clientId, preventWillMessage: false })),
        );
        return "dropped";
      } catch (error) {
        return error instanceof NotFoundError ? "not-connected" : "failed";
      }
    },
  };
};
