import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import { call } from "./aws-errors.js";

/** Hands what is left of a function's work to a new invocation of the same function. */
export interface Continuation {
  goOn(event: object): Promise<void>;
}

/**
 * An asynchronous invocation of the function itself: it starts at once with a whole timeout of
 * its own, and Lambda's retries and dead-letter queue cover it as they cover the first.
 */
export const selfInvocation = (lambda: () => LambdaClient, functionName: string): Continuation => ({
  async goOn(event) {
    await call("Invoke", () =>
      lambda().send(
        new InvokeCommand({
          FunctionName: functionName,
          InvocationType: "Event",
          Payload: Buffer.from(JSON.stringify(event)),
        }),
      ),
    );
  },
});
