import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import middy from "@middy/core";
import httpRouterHandler, { type Method } from "@middy/http-router";
import type { Context } from "aws-lambda";
import { builtOnFirstCall } from "#adapters/built-on-first-call.js";
import { loadMaintenanceConfig, loadOperationsConfig, loadRotationRequestConfig } from "#adapters/config.js";
import { type ApiEvent, type ApiResult, errorResult, problem } from "#adapters/http/api-event.js";
import { batchRoutes } from "#adapters/http/batch-routes.js";
import { maintenanceRoutes } from "#adapters/http/maintenance-routes.js";
import { operationsRoutes, type Route } from "#adapters/http/operations-routes.js";
import { replacementRoutes } from "#adapters/http/replacement-routes.js";
import { rotationRoutes } from "#adapters/http/rotation-routes.js";
import { logger, metrics } from "#adapters/telemetry.js";
import { traceAwsCalls } from "#adapters/tracing.js";
import { maintenanceDeps } from "#adapters/wiring/maintenance.js";
import { operationsApiDeps } from "#adapters/wiring/operations-api.js";
import { rotationRequestDeps } from "#adapters/wiring/rotation.js";

/**
 * The operations HTTP API (API Gateway HTTP API, IAM authorisation on every route): device state,
 * history and lifecycle actions; batch registration, uploads and recalls; the reconciler on demand
 * and the expiry watch. Errors answer as application/problem+json.
 */
traceAwsCalls();

/** What the API's routes work with. */
export interface OperationsApiDeps {
  readonly operations: ReturnType<typeof operationsApiDeps>;
  /** The reconciler on demand, and the expiry watch. */
  readonly maintenance: ReturnType<typeof maintenanceDeps>;
  /** Rotation asked for by operators: one device's, or a campaign's (told through IoT Jobs). */
  readonly rotations: ReturnType<typeof rotationRequestDeps>;
}

const answer =
  (deps: OperationsApiDeps["operations"], route: Route) =>
  async (event: ApiEvent, context: Context): Promise<ApiResult> => {
    deps.registerContext(context);
    try {
      const result = await route.handler(event);
      logger.info("request served", { route: `${route.method} ${route.path}`, status: result.statusCode });
      if (route.method === "POST") {
        const single = metrics.singleMetric();
        single.addDimension("Route", route.path);
        single.addMetric("OperatorAction", MetricUnit.Count, 1);
      }
      // POST /batches answers 422 when no row of the manifest could be registered: a FAILED batch.
      if (route.method === "POST" && route.path === "/batches" && result.statusCode === 422)
        metrics.singleMetric().addMetric("BatchFailed", MetricUnit.Count, 1);
      return result;
    } catch (error) {
      const result = errorResult(error);
      const details = { route: `${route.method} ${route.path}`, status: result.statusCode, error };
      if ((result.statusCode ?? 500) >= 500) logger.error("request failed", details);
      else logger.warn("request refused", details);
      return result;
    }
  };

const router = ({ operations: deps, maintenance, rotations }: OperationsApiDeps) =>
  httpRouterHandler({
    routes: [
      ...operationsRoutes(deps),
      ...batchRoutes(deps),
      // The reconciler on demand repairs through the same registry, history and connections as operators.
      ...maintenanceRoutes({
        ...maintenance,
        repairs: { registry: deps.registry, events: deps.store, connections: deps.connections },
      }),
      ...replacementRoutes(deps),
      ...rotationRoutes(rotations),
    ].map((route) => ({
      method: route.method as Method,
      path: route.path,
      handler: answer(deps, route),
    })),
    // The router's type says this throws; answering with a problem document works the same at run time.
    notFoundResponse: (({ method, path }: { method: string; path: string }) =>
      problem({
        type: "https://fleetgate.dev/problems/not-found",
        title: "not found",
        status: 404,
        detail: `no route ${method} ${path}`,
      })) as never,
  });

/** Every log line of a request names its caller (the IAM ARN the API authorised) and API Gateway's request id. */
const requestKeys = {
  before: ({ event }: { event: ApiEvent }) => {
    logger.appendKeys({
      caller: event.requestContext?.authorizer?.iam?.userArn ?? "unauthenticated",
      requestId: event.requestContext?.requestId,
    });
  },
};

/** The function over the dependencies given (the deployment's, a test's). */
export const operationsApi = (deps: OperationsApiDeps) =>
  middy<ApiEvent, ApiResult>()
    // resetKeys: the next request, in the same container, starts without this one's caller.
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(requestKeys)
    .handler(router(deps) as unknown as (event: ApiEvent, context: Context) => Promise<ApiResult>);

export const handler = builtOnFirstCall(() =>
  operationsApi({
    operations: operationsApiDeps(loadOperationsConfig()),
    maintenance: maintenanceDeps(loadMaintenanceConfig()),
    rotations: rotationRequestDeps(loadRotationRequestConfig()),
  }),
);
