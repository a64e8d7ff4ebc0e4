import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { type ApiClient, createApiClient } from "#cli/api-client.js";
import { type LocalApi, startLocalApi } from "#local/api-server.js";
import { createMotoWorld, type MotoWorld } from "./moto-world.js";

/** A moto world with the operations API served on loopback, and a SigV4 client for it. */
export const OPERATOR = {
  accessKeyId: "AKIAOPSALICE0000TEST",
  secretAccessKey: "alice-secret",
  userArn: "arn:aws:iam::123456789012:user/ops-alice",
};

export interface ApiWorld {
  readonly world: MotoWorld;
  readonly api: LocalApi;
  readonly client: ApiClient;
  readonly jitr: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
}

/** Set any environment the handlers read (FACTORY_PUBLIC_KEYS, ...) before calling this. */
export const createApiWorld = async (endpoint: string): Promise<ApiWorld> => {
  const world = await createMotoWorld(endpoint);
  const { handler: jitr } = await import("#functions/jitr.js");
  const { handler } = await import("#functions/operations-api.js");
  const api = await startLocalApi(handler, [OPERATOR]);
  const client = createApiClient({
    baseUrl: api.url,
    region: "us-east-1",
    credentials: async () => OPERATOR,
  });
  return { world, api, client, jitr };
};

/** The CLI's io for calling this world's API as OPERATOR; what it prints lands in out and err. */
export const cliAgainst = (w: ApiWorld) => {
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    deps: () => {
      throw new Error("the API path must not touch the table directly");
    },
    devices: {
      api: ({ apiUrl, region }: { apiUrl: string; region: string }) =>
        createApiClient({ baseUrl: apiUrl, region, credentials: async () => OPERATOR }),
      out: (text: string) => out.push(text),
      defaultApiUrl: w.api.url,
      defaultRegion: "us-east-1",
    },
    out: (text: string) => out.push(text),
    err: (text: string) => err.push(text),
    actor: "test",
  };
  return { io, out, err };
};
