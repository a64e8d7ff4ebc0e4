import { describe, expect, it } from "vitest";
import type { BoundCertificate, Device } from "#domain/device.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import {
  type CertificateRequestFacts,
  type CommittedRotation,
  certificatesOf,
  decideCertificateRequest,
  decideCommit,
  decideRotationRequest,
  decideTimer,
  type IssuedRotation,
  issuedRotation,
  type RequestedRotation,
  type RotationTimer,
  reject,
} from "#domain/rotation.js";

const DEVICE = "sensor-1" as DeviceId;
const OLD = "0".repeat(64) as CertificateId;
const NEW = "1".repeat(64) as CertificateId;
const OTHER = "2".repeat(64) as CertificateId;
const NOW = new Date("2026-11-25T12:00:00.000Z");
const WINDOWS = { commitWithinSeconds: 600, graceSeconds: 3600 };

const bound = (certificateId: CertificateId, publicKeySha256: string): BoundCertificate => ({
  certificateId,
  certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${certificateId}`,
  certificateSha256: certificateId,
  publicKeySha256,
  notBefore: "2026-01-01T00:00:00.000Z",
  notAfter: "2027-01-01T00:00:00.000Z",
});

const device = (overrides: Partial<Device> = {}): Device => ({
  deviceId: DEVICE,
  state: "ACTIVE",
  batchId: "lot-1" as BatchId,
  caCertificateId: "c".repeat(64) as CaCertificateId,
  attributes: {},
  pins: {},
  certificate: bound(OLD, "old-key"),
  version: 3,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  ...overrides,
});

const request = { publicKeySha256: "new-key", requestSha256: "request-1" };

const requested = (overrides: Partial<RequestedRotation> = {}): RequestedRotation => ({
  rotationId: "r-op",
  state: "REQUESTED",
  requestedAt: "2026-11-25T11:00:00.000Z",
  requestedBy: "arn:aws:iam::123456789012:user/ops",
  windows: { commitWithinSeconds: 60, graceSeconds: 5 },
  jobId: "rotate-r-op",
  reason: "key exposure drill",
  ...overrides,
});

const issued = (overrides: Partial<IssuedRotation> = {}): IssuedRotation => ({
  ...issuedRotation(
    { rotationId: "r-1", requestedAt: "2026-11-25T11:59:00.000Z", requestedBy: "device", windows: WINDOWS },
    bound(NEW, "new-key"),
    request,
    new Date("2026-11-25T11:59:00.000Z"),
  ),
  ...overrides,
});

const committed = (overrides: Partial<CommittedRotation> = {}): CommittedRotation => ({
  ...issued(),
  state: "COMMITTED",
  replaced: bound(OLD, "old-key"),
  committedAt: "2026-11-25T11:59:30.000Z",
  revokeAt: "2026-11-25T12:59:30.000Z",
  ...overrides,
});

const csr = (overrides: Partial<CertificateRequestFacts> = {}) =>
  decideCertificateRequest({
    deviceId: DEVICE,
    device: device(),
    speaker: OLD,
    verdict: { ok: true, request },
    now: NOW,
    windows: WINDOWS,
    newRotationId: "r-new",
    ...overrides,
  });

describe("a device's certificate signing request", () => {
  it("from its current certificate, while ACTIVE, starts a rotation of its own with the deployment's windows", () => {
    expect(csr()).toMatchObject({
      kind: "issue",
      base: { rotationId: "r-new", requestedBy: "device", requestedAt: NOW.toISOString(), windows: WINDOWS },
    });
  });

  it("answers a rotation an operator requested, with the operator's windows, job and reason", () => {
    const decision = csr({ device: device({ rotation: requested() }) });
    expect(decision).toMatchObject({ kind: "issue" });
    if (decision.kind !== "issue") return;
    const { state: _state, ...base } = requested();
    expect(decision.base).toEqual(base);
  });

  it("starts again after a rotation that completed or rolled back", () => {
    for (const rotation of [
      { ...committed(), state: "COMPLETED" as const, completedAt: NOW.toISOString() },
      { ...issued(), state: "ROLLED_BACK" as const, rolledBackAt: NOW.toISOString(), why: "no commit" },
    ])
      expect(csr({ device: device({ rotation }) })).toMatchObject({
        kind: "issue",
        base: { rotationId: "r-new" },
      });
  });

  it("is refused when it comes over any certificate but the current one (the new one included)", () => {
    for (const speaker of [NEW, OTHER])
      expect(csr({ speaker, device: device({ rotation: issued() }) })).toMatchObject({
        kind: "reject",
        rejection: { code: "NOT_CURRENT_CERTIFICATE" },
      });
  });

  it("is refused for a device fleetgate does not know, or one not ACTIVE", () => {
    expect(csr({ device: undefined })).toMatchObject({ rejection: { code: "DEVICE_UNKNOWN" } });
    for (const state of ["SUSPENDED", "REVOKED", "PROVISIONING"] as const)
      expect(csr({ device: device({ state }) })).toMatchObject({
        kind: "reject",
        rejection: { code: "DEVICE_NOT_ACTIVE", detail: `device is ${state}` },
      });
  });

  it("is refused while the last rotation's replaced certificate waits out its grace period", () => {
    expect(
      csr({ speaker: NEW, device: device({ certificate: bound(NEW, "new-key"), rotation: committed() }) }),
    ).toMatchObject({ kind: "reject", rejection: { code: "ROTATION_IN_GRACE" } });
  });

  it("passes on the crypto policy's refusal of the request", () => {
    const rejection = { code: "KEY_WEAK" as const, detail: "RSA 1024 bits" };
    expect(csr({ verdict: { ok: false, rejection } })).toEqual({
      kind: "reject",
      device: device(),
      rejection,
    });
  });

  it("is refused when it asks for the key the device already has", () => {
    expect(csr({ verdict: { ok: true, request: { ...request, publicKeySha256: "old-key" } } })).toMatchObject(
      {
        rejection: { code: "KEY_NOT_NEW" },
      },
    );
  });

  it("sent again while its certificate waits for the commit resumes the same rotation (no second certificate)", () => {
    const rotation = issued();
    expect(csr({ device: device({ rotation }) })).toEqual({
      kind: "resume",
      device: device({ rotation }),
      rotation,
    });
  });

  it("for another key while a certificate waits for the commit supersedes it, keeping the rotation's origin", () => {
    const rotation = issued();
    const decision = csr({
      device: device({ rotation }),
      verdict: { ok: true, request: { publicKeySha256: "newer-key", requestSha256: "request-2" } },
    });
    expect(decision).toMatchObject({ kind: "issue", supersedes: rotation, base: { rotationId: "r-1" } });
  });

  it("issues a rotation whose commit window starts at the issue", () => {
    const rotation = issuedRotation(
      { rotationId: "r", requestedAt: NOW.toISOString(), requestedBy: "device", windows: WINDOWS },
      bound(NEW, "new-key"),
      request,
      NOW,
    );
    expect(rotation).toMatchObject({
      state: "ISSUED",
      commitBy: "2026-11-25T12:10:00.000Z",
      issued: { certificateId: NEW, requestSha256: "request-1", issuedAt: NOW.toISOString() },
    });
  });
});

describe("a commit", () => {
  const commit = (speaker: CertificateId, rotation: Device["rotation"] = issued(), now = NOW) =>
    decideCommit({ deviceId: DEVICE, device: device({ rotation }), speaker, now });

  it("over the new certificate's connection makes the new certificate the device's and starts the grace period", () => {
    expect(commit(NEW)).toMatchObject({
      kind: "commit",
      committed: {
        state: "COMMITTED",
        rotationId: "r-1",
        issued: { certificateId: NEW },
        replaced: { certificateId: OLD },
        committedAt: NOW.toISOString(),
        revokeAt: "2026-11-25T13:00:00.000Z",
      },
    });
  });

  it("over the old certificate's connection does not count, and goes into the history", () => {
    expect(commit(OLD)).toMatchObject({
      kind: "reject",
      recorded: true,
      rejection: { code: "COMMIT_NOT_OVER_NEW_CERTIFICATE" },
    });
  });

  it("after the commit window does not count", () => {
    expect(commit(NEW, issued(), new Date("2026-11-25T12:09:00.001Z"))).toMatchObject({
      kind: "reject",
      recorded: true,
      rejection: { code: "COMMIT_TOO_LATE" },
    });
  });

  it("again over the new certificate after it counted resumes (the answer was lost)", () => {
    const rotation = committed();
    expect(
      decideCommit({
        deviceId: DEVICE,
        device: device({ certificate: bound(NEW, "new-key"), rotation }),
        speaker: NEW,
        now: NOW,
      }),
    ).toMatchObject({ kind: "resume", rotation });
  });

  it("with no rotation waiting for one is refused, unrecorded", () => {
    expect(decideCommit({ deviceId: DEVICE, device: device(), speaker: NEW, now: NOW })).toMatchObject({
      recorded: false,
      rejection: { code: "NO_ROTATION_TO_COMMIT" },
    });
    expect(commit(NEW, requested())).toMatchObject({ rejection: { code: "NO_ROTATION_TO_COMMIT" } });
  });

  it("naming another rotation is refused", () => {
    expect(
      decideCommit({
        deviceId: DEVICE,
        device: device({ rotation: issued() }),
        speaker: NEW,
        now: NOW,
        rotationId: "r-9",
      }),
    ).toMatchObject({ rejection: { code: "ROTATION_MISMATCH" } });
  });

  it("of a device an operator suspended is refused", () => {
    expect(
      decideCommit({
        deviceId: DEVICE,
        device: device({ state: "SUSPENDED", rotation: issued() }),
        speaker: NEW,
        now: NOW,
      }),
    ).toMatchObject({ rejection: { code: "DEVICE_NOT_ACTIVE" } });
  });
});

describe("a rotation's timers", () => {
  const deadline: RotationTimer = {
    kind: "commit-deadline",
    deviceId: DEVICE,
    rotationId: "r-1",
    dueAt: issued().commitBy,
  };
  const revoke: RotationTimer = {
    kind: "revoke-replaced",
    deviceId: DEVICE,
    rotationId: "r-1",
    dueAt: committed().revokeAt,
  };
  const at = (iso: string) => new Date(iso);

  it("rolls back a rotation whose commit window closed without a commit", () => {
    expect(
      decideTimer(deadline, device({ rotation: issued() }), at("2026-11-25T12:09:00.001Z")),
    ).toMatchObject({
      kind: "roll-back",
    });
  });

  it("waits while the window is open (a timer parked longer than a queue delays)", () => {
    expect(decideTimer(deadline, device({ rotation: issued() }), at("2026-11-25T12:08:59.000Z"))).toEqual({
      kind: "wait",
    });
  });

  it("finishes a rollback or a completion recorded before (a redelivered timer revokes again)", () => {
    const rotation = {
      ...issued(),
      state: "ROLLED_BACK" as const,
      rolledBackAt: NOW.toISOString(),
      why: "no commit",
    };
    expect(decideTimer(deadline, device({ rotation }), NOW)).toMatchObject({
      kind: "finish",
      certificate: { certificateId: NEW },
    });
    const done = { ...committed(), state: "COMPLETED" as const, completedAt: NOW.toISOString() };
    expect(decideTimer(revoke, device({ rotation: done }), NOW)).toMatchObject({
      kind: "finish",
      certificate: { certificateId: OLD },
    });
  });

  it("does nothing once the device committed, the rotation was superseded, or another one runs", () => {
    expect(decideTimer(deadline, device({ rotation: committed() }), NOW)).toMatchObject({ kind: "drop" });
    expect(
      decideTimer(deadline, device({ rotation: issued({ commitBy: "2026-11-25T12:30:00.000Z" }) }), NOW),
    ).toEqual({ kind: "drop", why: "the deadline moved" });
    expect(decideTimer(deadline, device({ rotation: issued({ rotationId: "r-2" }) }), NOW)).toMatchObject({
      kind: "drop",
    });
    expect(decideTimer(deadline, undefined, NOW)).toMatchObject({ kind: "drop" });
  });

  it("revokes the replaced certificate once the grace period ends, whatever the device's state since", () => {
    for (const state of ["ACTIVE", "SUSPENDED", "REVOKED"] as const)
      expect(
        decideTimer(revoke, device({ state, rotation: committed() }), at("2026-11-25T12:59:30.000Z")),
      ).toMatchObject({ kind: "complete" });
    expect(decideTimer(revoke, device({ rotation: committed() }), NOW)).toEqual({ kind: "wait" });
  });
});

describe("an operator's request to rotate", () => {
  const ask = (overrides: Partial<Device> = {}, campaignId?: string) =>
    decideRotationRequest({
      device: device(overrides),
      deviceId: DEVICE,
      now: NOW,
      requestedBy: "arn:aws:iam::123456789012:user/ops",
      windows: WINDOWS,
      newRotationId: "r-op",
      jobIdFor: (id) => `fleetgate-rotate-${id}`,
      ...(campaignId ? { campaignId } : {}),
    });

  it("requests a rotation of an ACTIVE device, named by the job that tells it", () => {
    expect(ask()).toMatchObject({
      kind: "request",
      rotation: { state: "REQUESTED", rotationId: "r-op", jobId: "fleetgate-rotate-r-op", windows: WINDOWS },
    });
  });

  it("asked again before the device answered, tells the device again (the same rotation)", () => {
    const rotation = requested({ campaignId: "c-1" });
    expect(ask({ rotation }, "c-1")).toMatchObject({ kind: "requested-before", rotation });
  });

  it("is refused while a rotation runs, and for a device that is not ACTIVE", () => {
    expect(ask({ rotation: issued() })).toMatchObject({ rejection: { code: "ROTATION_IN_PROGRESS" } });
    expect(ask({ rotation: requested({ campaignId: "c-1" }) }, "c-2")).toMatchObject({
      rejection: { code: "ROTATION_IN_PROGRESS" },
    });
    expect(ask({ state: "SUSPENDED" })).toMatchObject({ rejection: { code: "DEVICE_NOT_ACTIVE" } });
  });
});

describe("the certificates a device holds", () => {
  it("are its current one, and the new one during the overlap or the replaced one during the grace period", () => {
    expect(certificatesOf(device())).toEqual({ current: bound(OLD, "old-key") });
    expect(certificatesOf(device({ rotation: issued() }))).toMatchObject({
      current: { certificateId: OLD },
      pending: { certificateId: NEW },
    });
    expect(
      certificatesOf(device({ certificate: bound(NEW, "new-key"), rotation: committed() })),
    ).toMatchObject({
      current: { certificateId: NEW },
      replaced: { certificateId: OLD },
    });
  });
});

describe("rejections", () => {
  it("carry the standard text unless a detail says more", () => {
    expect(reject("KEY_NOT_NEW")).toEqual({
      code: "KEY_NOT_NEW",
      detail: "The request is for the key the device already has: a rotation needs a new key.",
    });
  });
});
