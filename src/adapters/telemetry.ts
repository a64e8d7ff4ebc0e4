import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";

/** One logger and one metrics emitter for every function, named for the service. */
export const SERVICE = "fleetgate";
export const logger = new Logger({ serviceName: SERVICE });
export const metrics = new Metrics({ namespace: "Fleetgate", serviceName: SERVICE });

/**
 * A middy middleware that publishes the metrics an invocation added, after it answers or fails.
 * Unlike Powertools' logMetrics it says nothing when there are none: a batch whose records were
 * all counted by reason (single metrics, published at once) has nothing left to publish.
 */
export const publishMetrics = () => {
  const publish = (): void => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  };
  return { after: publish, onError: publish };
};

/**
 * Counts one occurrence of `name` by reason (the dashboard's breakdown, dimension Reason) and in
 * total (what an alarm's baseline watches: an alarm needs one metric, not one per reason).
 */
export const countByReason = (name: string, reason: string): void => {
  const single = metrics.singleMetric();
  single.addDimension("Reason", reason);
  single.addMetric(name, MetricUnit.Count, 1);
  metrics.addMetric(name, MetricUnit.Count, 1);
};
