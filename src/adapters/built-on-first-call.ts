import type { Context } from "aws-lambda";

// biome-ignore lint/suspicious/noExplicitAny: any event type a Lambda handler takes.
type Handler = (event: any, context: Context) => unknown;

/**
 * A function's `handler`, made by its factory from the deployment's configuration on the first
 * invocation: importing the module reads no environment, so tests and the local stack give the
 * factory their own dependencies instead. A configuration error fails that invocation, and the
 * next one tries again.
 */
export const builtOnFirstCall = <H extends Handler>(build: () => H): H => {
  let built: H | undefined;
  return ((event: Parameters<H>[0], context: Context) => {
    built ??= build();
    return built(event, context);
  }) as H;
};
