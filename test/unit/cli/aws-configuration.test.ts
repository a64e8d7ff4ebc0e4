import { afterEach, describe, expect, it, vi } from "vitest";
import { regionOfApiUrl } from "#cli/api-commands.js";
import { EXIT } from "#cli/failures.js";
import { type LocalServer, localServer } from "./local-server.js";
import { type AwsSetup, awsEnvironment, runProcessCli, STATIC_KEYS } from "./real-cli.js";

let server: LocalServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  vi.unstubAllEnvs();
});

const PROFILES: AwsSetup = {
  config: "[default]\nregion = us-west-2\n\n[profile ops]\nregion = eu-north-1\n",
  credentials:
    "[default]\naws_access_key_id = AKIADEFAULTPROFILE01\naws_secret_access_key = s\n\n[ops]\naws_access_key_id = AKIAOPSPROFILE000001\naws_secret_access_key = s\n",
};

/** The access key and region the request was signed with, read from its Authorization header. */
const signedWith = async (setup: AwsSetup, ...options: string[]) => {
  awsEnvironment(setup);
  server = await localServer(() => ({ status: 200, body: { devices: [] } }));
  const run = await runProcessCli([
    "device",
    "list",
    "--state",
    "ACTIVE",
    "--api-url",
    server.url,
    ...options,
  ]);
  expect(run.stderr).toBe("");
  const authorization = String(server.received[0]?.headers.authorization);
  const [, key, region] = /Credential=([A-Z0-9]+)\/\d{8}\/([a-z0-9-]+)\/execute-api\/aws4_request/.exec(
    authorization,
  ) ?? [undefined, undefined, undefined];
  return { key, region };
};

describe("region and credentials from the standard AWS chain", () => {
  it("signs with the default profile's keys and region when nothing else is said", async () => {
    expect(await signedWith(PROFILES)).toEqual({ key: "AKIADEFAULTPROFILE01", region: "us-west-2" });
  });

  it("--profile picks the profile's keys and region", async () => {
    expect(await signedWith(PROFILES, "--profile", "ops")).toEqual({
      key: "AKIAOPSPROFILE000001",
      region: "eu-north-1",
    });
  });

  it("AWS_PROFILE picks a profile as --profile does", async () => {
    expect(await signedWith({ ...PROFILES, env: { AWS_PROFILE: "ops" } })).toEqual({
      key: "AKIAOPSPROFILE000001",
      region: "eu-north-1",
    });
  });

  it("takes --region first, then AWS_REGION, then AWS_DEFAULT_REGION, then the profile's region", async () => {
    const both = { ...PROFILES, env: { AWS_REGION: "ap-south-1", AWS_DEFAULT_REGION: "sa-east-1" } };
    expect((await signedWith(both, "--region", "ca-central-1")).region).toBe("ca-central-1");
    await server?.close();
    expect((await signedWith(both)).region).toBe("ap-south-1");
    await server?.close();
    expect((await signedWith({ ...PROFILES, env: { AWS_DEFAULT_REGION: "sa-east-1" } })).region).toBe(
      "sa-east-1",
    );
  });

  it("takes the environment's keys when no profile is named", async () => {
    expect(await signedWith({ ...PROFILES, env: STATIC_KEYS })).toEqual({
      key: STATIC_KEYS.AWS_ACCESS_KEY_ID,
      region: "us-west-2",
    });
  });

  it("a profile that does not exist has no credentials: exit 6 naming it", async () => {
    awsEnvironment({ ...PROFILES, env: { AWS_REGION: "eu-west-1" } });
    server = await localServer(() => ({ status: 200, body: {} }));
    const run = await runProcessCli(["device", "show", "d-1", "--api-url", server.url, "--profile", "nope"]);
    expect(run.code).toBe(EXIT.notAuthorised);
    expect(run.stderr).toMatch(/^fleetgate: no AWS credentials for profile nope: /);
  });

  it("with no region anywhere, exits as bad input saying where to give one, sending nothing", async () => {
    awsEnvironment({ env: STATIC_KEYS });
    server = await localServer(() => ({ status: 200, body: {} }));
    const run = await runProcessCli(["device", "show", "d-1", "--api-url", server.url]);
    expect(run.code).toBe(EXIT.invalid);
    expect(run.stderr).toContain(
      "no region: give --region, set AWS_REGION, or set region in the profile's config",
    );
    expect(server.received).toEqual([]);
  });

  it("with no region anywhere else, takes the one an API Gateway URL names", () => {
    expect(regionOfApiUrl("https://abc123.execute-api.eu-central-1.amazonaws.com/prod")).toBe("eu-central-1");
    expect(regionOfApiUrl("https://ops.example.com/prod")).toBeUndefined();
    expect(regionOfApiUrl("https://abc.execute-api.eu-central-1.amazonaws.com.evil.test")).toBeUndefined();
  });
});
