import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from "@aws-sdk/client-lambda";
import { CliError } from "./failures.js";
import { clientConfig, readStackOutputs, type StackOptions } from "./stack-outputs.js";

/**
 * Runs the deployment's retirement job now, with the operator's own credentials (lambda:InvokeFunction
 * on the function the stack's outputs name): the power to delete certificates stays with that one
 * small function, not the operations API. Loaded only by `fleetgate cert retire`.
 */
export interface RetireRequest {
  readonly dryRun: boolean;
  readonly retentionDays?: number;
  readonly caCertificateId?: string;
  readonly limit?: number;
}

export const runRetirement = async (stack: StackOptions, request: RetireRequest): Promise<unknown> => {
  const { RetireCertificatesFunctionName } = await readStackOutputs(stack, [
    "RetireCertificatesFunctionName",
  ]);
  const lambda = new LambdaClient(clientConfig(stack));
  let out: InvokeCommandOutput;
  try {
    out = await lambda.send(
      new InvokeCommand({ FunctionName: RetireCertificatesFunctionName, Payload: JSON.stringify(request) }),
    );
  } catch (error) {
    // One run at a time (its reserved concurrency): the schedule's is running now.
    if ((error as Error).name === "TooManyRequestsException")
      throw new CliError({
        kind: "conflict",
        message: `${RetireCertificatesFunctionName} is running already (one run at a time)`,
        hint: "try again when the scheduled run ends; it goes on from its checkpoint",
      });
    throw error;
  }
  const text = out.Payload ? Buffer.from(out.Payload).toString("utf8") : "null";
  if (out.FunctionError) {
    const failure = JSON.parse(text) as { errorType?: string; errorMessage?: string };
    throw new CliError({
      kind: failure.errorType === "ValidationError" ? "invalid" : "failed",
      message: `${RetireCertificatesFunctionName}: ${failure.errorType ?? out.FunctionError}: ${failure.errorMessage ?? text}`,
    });
  }
  return JSON.parse(text) as unknown;
};
