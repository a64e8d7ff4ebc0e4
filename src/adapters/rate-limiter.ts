/**
 * A token bucket: at most `perSecond` calls a second on average, bursts up to `burst`. Callers
 * wait for a token instead of sending a call that IoT Core would throttle.
 */
export interface RateLimiter {
  acquire(): Promise<void>;
}

/**
 * The clock pacing reads and sleeps on: wall-clock time (epoch ms), because the deployment's IoT
 * budget is one schedule for every container. Tests and the herd simulation give a virtual one.
 */
export interface Timer {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realTimer: Timer = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export const tokenBucket = (
  perSecond: number,
  burst = Math.max(1, Math.floor(perSecond)),
  timer: Timer = realTimer,
): RateLimiter => {
  if (!(perSecond > 0)) throw new RangeError(`rate must be positive, got ${perSecond}`);
  let tokens = burst;
  let last = timer.now();
  // Waiters queue on one promise chain so tokens go out in arrival order.
  let queue: Promise<void> = Promise.resolve();
  const take = async (): Promise<void> => {
    for (;;) {
      const now = timer.now();
      tokens = Math.min(burst, tokens + ((now - last) / 1000) * perSecond);
      last = now;
      if (tokens >= 1) {
        tokens -= 1;
        return;
      }
      await timer.sleep(((1 - tokens) / perSecond) * 1000);
    }
  };
  return {
    acquire() {
      const turn = queue.then(take);
      queue = turn.catch(() => undefined);
      return turn;
    },
  };
};

/** IoT Core's default per-account quotas (TPS) for the calls provisioning makes; see aws-iot-facts. */
export const IOT_QUOTAS = {
  DescribeCertificate: 10,
  RegisterCertificate: 10,
  DescribeCACertificate: 10,
  UpdateCertificate: 10,
  // 100 in the current guide, 15 in the older one: plan for the lower until the account says otherwise.
  CreateThing: 15,
  AttachThingPrincipal: 15,
  // Not in the published table we plan from: paced like the other Thing writes.
  AddThingToThingGroup: 15,
  DetachPolicy: 15,
  DetachThingPrincipal: 15,
  DeleteThing: 15,
  // Rotation: a new certificate from a device's CSR, and the jobs that tell devices to rotate.
  CreateCertificateFromCsr: 15,
  CreateJob: 10,
  // JITP: a waiting certificate's registration is undone, and an existing Thing takes its attributes.
  DeleteCertificate: 10,
  UpdateThing: 15,
  // The reconciler's, the expiry watch's and the retirement job's reads.
  ListThingsInThingGroup: 10,
  ListThingPrincipals: 10,
  ListPrincipalThings: 10,
  ListCACertificates: 10,
} as const;

export type IotOperation = keyof typeof IOT_QUOTAS;
