import { DescribeEndpointCommand, IoTClient } from "@aws-sdk/client-iot";
import { type DeployedStack, deployPackagedStack, packageLocalStage } from "./deploy-stack.js";
import type { Endpoint } from "./device.js";
import { getLocal, type LocalAws, localClientConfig, startLocalAws } from "./ministack.js";

/**
 * fleetgate deployed on the local AWS: the packaged stack, the operations API's URL, and the IoT
 * endpoint devices dial. Serialisable (tests receive it from their global setup).
 */
export interface LocalStack {
  readonly aws: Omit<LocalAws, "stop">;
  readonly stack: DeployedStack;
  /** The operations API, addressed by path (`<endpoint>/_aws/execute-api/<api id>`). */
  readonly apiUrl: string;
  /** What a device dials; `serverName` is the account's IoT data endpoint. */
  readonly mqtt: Endpoint;
}

export interface RunningLocalStack extends LocalStack {
  stop(): Promise<void>;
}

export const startLocalStack = async (
  progress: (step: string) => void = () => undefined,
): Promise<RunningLocalStack> => {
  progress("starting the local AWS (ministack)");
  const { stop, ...aws } = await startLocalAws();
  try {
    progress("packaging the local stage (osls + esbuild)");
    packageLocalStage();
    progress("deploying the packaged stack");
    const stack = await deployPackagedStack(aws);
    const iot = new IoTClient(localClientConfig(aws));
    const address = (await iot.send(new DescribeEndpointCommand({ endpointType: "iot:Data-ATS" })))
      .endpointAddress;
    const brokerCa = await getLocal(`${aws.endpoint}/_ministack/iot/ca.pem`, aws.caBundlePath);
    if (!address || brokerCa?.status !== 200) throw new Error("the local IoT endpoint is not answering");
    const apiId = stack.outputs.HttpApiId;
    if (!apiId) throw new Error("the stack has no HttpApiId output");
    return {
      aws,
      stack,
      apiUrl: `${aws.endpoint}/_aws/execute-api/${apiId}`,
      mqtt: {
        address: "127.0.0.1",
        port: aws.mqttPort,
        // DescribeEndpoint answers host:port here; SNI is the host name alone.
        serverName: address.replace(/:\d+$/, ""),
        trustedCaPem: brokerCa.body,
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
};
