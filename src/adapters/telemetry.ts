import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";

/** One logger and one metrics emitter for every function, named for the service. */
export const SERVICE = "fleetgate";
export const logger = new Logger({ serviceName: SERVICE });
export const metrics = new Metrics({ namespace: "Fleetgate", serviceName: SERVICE });
