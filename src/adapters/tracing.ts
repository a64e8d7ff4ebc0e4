import { Tracer } from "@aws-lambda-powertools/tracer";
import { captureClientsWith } from "./aws-clients.js";
import { SERVICE } from "./telemetry.js";

/**
 * X-Ray subsegments for every AWS call of a function that imports this (the JITR function and the
 * operations API: where a slow or failed call is worth a trace). A module of its own because the
 * X-Ray SDK adds about 10 ms to a cold start: functions that do not import it do not load it
 * (README "Numbers"). Active only in Lambda; off in tests, the CLI, and with
 * POWERTOOLS_TRACE_ENABLED=false. Calls are traced through their SDK clients: patching Node's
 * http and https as well would trace each call twice.
 */
export const tracer = new Tracer({ serviceName: SERVICE, captureHTTPsRequests: false });

/** Traces the AWS calls of the clients made from now on (call it before the function's wiring). */
export const traceAwsCalls = (): void => captureClientsWith((client) => tracer.captureAWSv3Client(client));
