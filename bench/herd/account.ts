import { randomUUID } from "node:crypto";
import { certificateIdOf } from "#domain/certificate-names.js";
import { sleep } from "./virtual-time.js";

/**
 * The AWS account's IoT Core, as far as provisioning sees it, plugged in below the SDK as each
 * container's IoT client's request handler: it reads the REST requests the real client serialises,
 * answers as IoT Core's REST API does (the client deserialises and classifies the answers itself),
 * after the scenario's latency, and enforces the account's quotas with one token bucket per API
 * (rate and burst as the scenario says), evaluated when a request arrives (half its latency after
 * it is sent). A throttled request takes no token. Other callers of the account draw from the
 * same buckets.
 */
export type IotApi =
  | "DescribeCertificate"
  | "DescribeCACertificate"
  | "UpdateCertificate"
  | "RegisterCertificate"
  | "CreateThing"
  | "AddThingToThingGroup"
  | "AttachThingPrincipal"
  | "DetachThingPrincipal"
  | "DeleteThing";

/** The account's quotas (TPS): the low ones of aws-iot-facts.md, the Thing APIs at the current guide's. */
export const ACCOUNT_QUOTAS: Record<IotApi, number> = {
  DescribeCertificate: 10,
  DescribeCACertificate: 10,
  UpdateCertificate: 10,
  RegisterCertificate: 10,
  CreateThing: 100,
  AddThingToThingGroup: 100,
  AttachThingPrincipal: 100,
  DetachThingPrincipal: 100,
  DeleteThing: 100,
};

export interface AccountOptions {
  /** Round trip of an IoT call (ms). */
  readonly latencyMs: number;
  /** Each call's latency varies by up to this share either way (0: fixed). */
  readonly jitter?: number;
  /** Tokens each bucket holds: the burst IoT Core allows. */
  readonly burst: number;
  /** Times (epoch ms) between which the account's Describe and Update quotas are taken whole by others. */
  readonly blackout?: { readonly from: number; readonly to: number };
}

class Bucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }
  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    // A request exactly on time is served: floating point must not throttle a perfect schedule.
    if (this.tokens < 1 - 1e-9) return false;
    this.tokens = Math.max(0, this.tokens - 1);
    return true;
  }
}

interface Certificate {
  pem: string;
  status: string;
  caCertificateId: string;
}

interface HttpRequestLike {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

const json = (statusCode: number, body: unknown, errorType?: string) => ({
  response: {
    statusCode,
    headers: {
      "content-type": "application/json",
      "x-amzn-requestid": randomUUID(),
      ...(errorType ? { "x-amzn-errortype": errorType } : {}),
    },
    body: Buffer.from(JSON.stringify(body ?? {})),
  },
});

const error = (statusCode: number, type: string, message: string) => json(statusCode, { message }, type);

export const ACCOUNT = "123456789012";
const arnOf = (certificateId: string) => `arn:aws:iot:us-east-1:${ACCOUNT}:cert/${certificateId}`;

export interface ApiStats {
  ok: number;
  throttled: number;
}

export class IotAccount {
  readonly certificates = new Map<string, Certificate>();
  readonly cas = new Map<string, string>();
  readonly things = new Map<string, Record<string, string>>();
  readonly groups = new Map<string, Set<string>>();
  readonly principals = new Map<string, Set<string>>();
  /** Things created, counted each time a CreateThing made one (not when it found it). */
  thingsCreated = 0;
  /** Certificate id -> how many times it went to ACTIVE. */
  readonly activations = new Map<string, number>();
  /** Fleetgate's calls by API; other callers' apart. */
  readonly stats = new Map<IotApi, ApiStats>();
  readonly othersStats = { ok: 0, throttled: 0 };
  /** Containers whose invocation timed out: Lambda froze them, their calls never arrive. */
  readonly frozen = new Set<string>();
  onActivated: (certificateId: string, at: number) => void = () => undefined;
  private readonly buckets = new Map<IotApi, Bucket>();

  constructor(
    private readonly options: AccountOptions,
    start: number,
  ) {
    for (const [api, rate] of Object.entries(ACCOUNT_QUOTAS))
      this.buckets.set(api as IotApi, new Bucket(rate, options.burst, start));
  }

  /** Whether a request to `api` arriving now is served (and takes its token). */
  admit(api: IotApi, now: number): boolean {
    const { blackout } = this.options;
    if (
      blackout &&
      now >= blackout.from &&
      now < blackout.to &&
      (api === "DescribeCertificate" || api === "UpdateCertificate")
    )
      return false;
    return this.buckets.get(api)?.take(now) ?? true;
  }

  private latency(): number {
    const { latencyMs, jitter = 0 } = this.options;
    return latencyMs * (1 + jitter * (2 * Math.random() - 1));
  }

  /** The request handler for one container's IoT client. */
  handlerFor(container: string) {
    return {
      handle: async (request: HttpRequestLike) => {
        const latency = this.latency();
        await sleep(latency / 2);
        if (this.frozen.has(container)) return new Promise<never>(() => undefined);
        const answer = this.serve(request, Date.now());
        await sleep(latency / 2);
        return answer;
      },
      updateHttpClientConfig: () => undefined,
      httpHandlerConfigs: () => ({}),
      destroy: () => undefined,
    };
  }

  private count(api: IotApi, throttled: boolean) {
    let stats = this.stats.get(api);
    if (!stats) {
      stats = { ok: 0, throttled: 0 };
      this.stats.set(api, stats);
    }
    if (throttled) stats.throttled += 1;
    else stats.ok += 1;
  }

  private serve(request: HttpRequestLike, now: number) {
    const route = this.route(request);
    if (!route) return error(400, "InvalidRequestException", `no route ${request.method} ${request.path}`);
    if (!this.admit(route.api, now)) {
      this.count(route.api, true);
      return error(429, "ThrottlingException", "Rate exceeded");
    }
    this.count(route.api, false);
    return route.run();
  }

  private route(request: HttpRequestLike): { api: IotApi; run: () => ReturnType<typeof json> } | undefined {
    const parts = request.path.split("/").filter(Boolean).map(decodeURIComponent);
    const body = (): Record<string, unknown> => {
      const text =
        typeof request.body === "string"
          ? request.body
          : request.body instanceof Uint8Array
            ? Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength).toString(
                "utf8",
              )
            : "";
      return text ? (JSON.parse(text) as Record<string, unknown>) : {};
    };
    const query = (name: string) => {
      const value = request.query?.[name];
      return Array.isArray(value) ? value[0] : (value ?? undefined);
    };
    const [first, second, third] = parts;
    const method = request.method;
    if (first === "certificates" && second && !third && method === "GET")
      return { api: "DescribeCertificate", run: () => this.describeCertificate(second) };
    if (first === "certificates" && second && !third && method === "PUT")
      return {
        api: "UpdateCertificate",
        run: () => this.updateCertificate(second, query("newStatus") ?? ""),
      };
    if (first === "cacertificate" && second && method === "GET")
      return { api: "DescribeCACertificate", run: () => this.describeCa(second) };
    if (first === "certificate" && second === "register" && method === "POST")
      return { api: "RegisterCertificate", run: () => this.registerCertificate(body()) };
    if (first === "thing-groups" && second === "addThingToThingGroup" && method === "PUT")
      return { api: "AddThingToThingGroup", run: () => this.addToGroup(body()) };
    if (first === "things" && second && third === "principals" && method === "PUT")
      return {
        api: "AttachThingPrincipal",
        run: () => this.attach(second, request.headers["x-amzn-principal"] ?? ""),
      };
    if (first === "things" && second && third === "principals" && method === "DELETE")
      return {
        api: "DetachThingPrincipal",
        run: () => {
          this.principals.get(second)?.delete(request.headers["x-amzn-principal"] ?? "");
          return json(200, {});
        },
      };
    if (first === "things" && second && !third && method === "POST")
      return { api: "CreateThing", run: () => this.createThing(second, body()) };
    if (first === "things" && second && !third && method === "DELETE")
      return {
        api: "DeleteThing",
        run: () => {
          this.things.delete(second);
          return json(200, {});
        },
      };
    return undefined;
  }

  private describeCertificate(certificateId: string) {
    const certificate = this.certificates.get(certificateId);
    if (!certificate) return error(404, "ResourceNotFoundException", `certificate ${certificateId}`);
    return json(200, {
      certificateDescription: {
        certificateArn: arnOf(certificateId),
        certificateId,
        caCertificateId: certificate.caCertificateId,
        status: certificate.status,
        certificatePem: certificate.pem,
        ownedBy: ACCOUNT,
        certificateMode: "DEFAULT",
      },
    });
  }

  private describeCa(caCertificateId: string) {
    const pem = this.cas.get(caCertificateId);
    if (!pem) return error(404, "ResourceNotFoundException", `CA ${caCertificateId}`);
    return json(200, {
      certificateDescription: {
        certificateArn: `arn:aws:iot:us-east-1:${ACCOUNT}:cacert/${caCertificateId}`,
        certificateId: caCertificateId,
        status: "ACTIVE",
        certificatePem: pem,
        autoRegistrationStatus: "ENABLE",
        certificateMode: "DEFAULT",
      },
    });
  }

  private updateCertificate(certificateId: string, newStatus: string) {
    const certificate = this.certificates.get(certificateId);
    if (!certificate) return error(404, "ResourceNotFoundException", `certificate ${certificateId}`);
    if (certificate.status === "REVOKED" && newStatus !== "REVOKED")
      return error(406, "CertificateStateException", "Certificate is revoked");
    if (newStatus === "ACTIVE" && certificate.status !== "ACTIVE") {
      this.activations.set(certificateId, (this.activations.get(certificateId) ?? 0) + 1);
      this.onActivated(certificateId, Date.now());
    }
    certificate.status = newStatus;
    return json(200, {});
  }

  private registerCertificate(body: Record<string, unknown>) {
    const pem = String(body.certificatePem ?? "");
    const certificateId = certificateIdOf(pem);
    if (this.certificates.has(certificateId))
      return json(
        409,
        {
          message: "certificate exists",
          resourceId: certificateId,
          resourceArn: arnOf(certificateId),
        },
        "ResourceAlreadyExistsException",
      );
    const caCertificateId = certificateIdOf(String(body.caCertificatePem ?? ""));
    this.certificates.set(certificateId, { pem, status: String(body.status ?? "INACTIVE"), caCertificateId });
    return json(200, { certificateId, certificateArn: arnOf(certificateId) });
  }

  private createThing(thingName: string, body: Record<string, unknown>) {
    const attributes =
      ((body.attributePayload as { attributes?: Record<string, string> } | undefined)?.attributes as Record<
        string,
        string
      >) ?? {};
    const existing = this.things.get(thingName);
    if (existing && JSON.stringify(existing) !== JSON.stringify(attributes))
      return json(
        409,
        { message: "thing exists", resourceId: thingName, resourceArn: thingName },
        "ResourceAlreadyExistsException",
      );
    if (!existing) {
      this.things.set(thingName, attributes);
      this.thingsCreated += 1;
    }
    return json(200, {
      thingName,
      thingArn: `arn:aws:iot:us-east-1:${ACCOUNT}:thing/${thingName}`,
      thingId: thingName,
    });
  }

  private addToGroup(body: Record<string, unknown>) {
    const thingName = String(body.thingName);
    if (!this.things.has(thingName)) return error(404, "ResourceNotFoundException", `thing ${thingName}`);
    const group = String(body.thingGroupName);
    let members = this.groups.get(group);
    if (!members) {
      members = new Set();
      this.groups.set(group, members);
    }
    members.add(thingName);
    return json(200, {});
  }

  private attach(thingName: string, principal: string) {
    if (!this.things.has(thingName)) return error(404, "ResourceNotFoundException", `thing ${thingName}`);
    let set = this.principals.get(thingName);
    if (!set) {
      set = new Set();
      this.principals.set(thingName, set);
    }
    set.add(principal);
    return json(200, {});
  }

  /**
   * Another application of the account calling `apis` at `rate` each (evenly, from `from` to `to`),
   * retrying a throttled call with the SDK's standard backoff (full jitter, 100 ms base, 20 s cap)
   * until it gets through.
   */
  otherCaller(apis: readonly IotApi[], rate: number, from: number, to: number): void {
    const call = async (api: IotApi) => {
      for (let attempt = 0; ; attempt += 1) {
        await sleep(this.latency() / 2);
        const served = this.admit(api, Date.now());
        await sleep(this.latency() / 2);
        if (served) {
          this.othersStats.ok += 1;
          return;
        }
        this.othersStats.throttled += 1;
        await sleep(Math.random() * Math.min(20_000, 100 * 2 ** attempt));
      }
    };
    for (const api of apis) {
      const tick = () => {
        if (Date.now() >= to) return;
        void call(api);
        setTimeout(tick, 1000 / rate);
      };
      setTimeout(tick, Math.max(0, from - Date.now()) + Math.random() * (1000 / rate));
    }
  }
}
