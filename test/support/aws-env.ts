import { inject } from "vitest";

/**
 * Points every AWS SDK client created afterwards at the shared moto server of the integration project
 * (started by test/support/global-setup.ts). Call at the top of an integration test file.
 */
export const useMoto = (): string => {
  const endpoint = inject("motoEndpoint");
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  });
  return endpoint;
};
