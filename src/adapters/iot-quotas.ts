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
  // Whole milliseconds, rounded up: a slot a fraction of a millisecond away is never waited for
  // with a timer that fires at once (fake timers round a fraction down to 0), which would claim
  // again at the same instant, and again, without time moving.
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.ceil(ms))),
};

/** IoT Core's default per-account quotas (TPS) for every call fleetgate makes; see aws-iot-facts. */
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
