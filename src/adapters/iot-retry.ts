import { StandardRetryStrategy } from "@smithy/core/retry";
import type { RetryErrorInfo } from "@smithy/types";

// Attempts for a call that fails for a passing reason (a 5xx, a reset connection), quickly.
const ATTEMPTS = 3;

/**
 * The IoT client's retries: a passing failure is retried a few times at once, but throttling is
 * not retried here. The SDK's backoff would spend the function's time waiting at random, outside
 * the deployment's IoT budget; the budget answers a throttle instead (iot-registry.ts): it slows
 * every container down and gives the call a new slot, or defers the work to the queue.
 */
export class IotRetryStrategy extends StandardRetryStrategy {
  constructor() {
    super(ATTEMPTS);
  }

  override async refreshRetryTokenForRetry(
    token: Parameters<StandardRetryStrategy["refreshRetryTokenForRetry"]>[0],
    errorInfo: RetryErrorInfo,
  ) {
    if (errorInfo.errorType === "THROTTLING") throw new Error("throttling is left to the IoT budget");
    return super.refreshRetryTokenForRetry(token, errorInfo);
  }
}
