import type { BatchRecord, Recall, RecallFailure } from "#domain/batch.js";
import type { ClaimBinding } from "#domain/claim.js";
import type {
  BoundCertificate,
  CertificateRecord,
  Device,
  DeviceEvent,
  WaitingRecord,
} from "#domain/device.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import type { DeviceState } from "#domain/lifecycle.js";
import type { ManifestRow } from "#domain/manifest.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import type { Refusal } from "#domain/refusal.js";
import type { ReplacementApproval } from "#domain/replacement.js";
import type { RetirableCertificate } from "#domain/retirement.js";
import type { Rotation, RotationTimer } from "#domain/rotation.js";

/** The ports the use cases need. Adapters implement them; tests pass in-memory versions. */

export interface Clock {
  now(): Date;
}

export interface CertificateDescription {
  readonly certificateId: CertificateId;
  readonly certificateArn: string;
  readonly status: CertificateStatus;
  readonly pem: string;
  /** IoT Core's record of the issuing CA, when it reports one. */
  readonly caCertificateId?: CaCertificateId;
}

export interface CaDescription {
  readonly caCertificateId: CaCertificateId;
  readonly status: "ACTIVE" | "INACTIVE";
  readonly pem: string;
  /** Whether IoT Core registers certificates it signed on first connection (JITR); when reported. */
  readonly autoRegistration?: "ENABLE" | "DISABLE";
  /** The template IoT Core provisions the CA's devices from (JITP), when it does. */
  readonly jitpTemplate?: string;
}

/** IoT Core's registry, as provisioning sees it. Every write is idempotent. */
export interface DeviceRegistry {
  describeCertificate(certificateId: CertificateId): Promise<CertificateDescription>;
  describeCaCertificate(caCertificateId: CaCertificateId): Promise<CaDescription>;
  /** Creates the Thing, or merges these attributes (and the type) into the one that exists. */
  createThing(
    thingName: DeviceId,
    attributes: Readonly<Record<string, string>>,
    thingTypeName?: string,
  ): Promise<void>;
  /** Puts the Thing in the group, whose policies then apply to its certificate; idempotent. */
  addThingToGroup(thingGroupName: string, thingName: DeviceId): Promise<void>;
  /** Exclusive attachment: the certificate belongs to this Thing only. */
  attachThingPrincipal(thingName: DeviceId, certificateArn: string): Promise<void>;
  updateCertificateStatus(
    certificateId: CertificateId,
    status: "ACTIVE" | "INACTIVE" | "REVOKED",
  ): Promise<void>;
  /**
   * Registers a device certificate under its CA, INACTIVE, ahead of its first connection.
   * Registering it again answers with the same id.
   */
  registerCertificate(certificatePem: string, caCertificatePem: string): Promise<CertificateId>;
  /** Idempotent: a principal that is not attached counts as detached. */
  detachThingPrincipal(thingName: DeviceId, certificateArn: string): Promise<void>;
  /** Idempotent: a Thing that does not exist counts as deleted. */
  deleteThing(thingName: DeviceId): Promise<void>;
  /**
   * Deletes a certificate with its policies (a JITP registration undone, a retired certificate):
   * "gone" when IoT Core has no such certificate; IoT Core refuses one that is ACTIVE or still
   * attached to a Thing (a detach takes seconds to propagate), which is what this answers then.
   */
  deleteCertificate(certificateId: CertificateId): Promise<"deleted" | "gone" | "active" | "attached">;
}

/** A CA as IoT Core lists it. */
export interface CaSummary {
  readonly caCertificateId: CaCertificateId;
  readonly status: "ACTIVE" | "INACTIVE";
  readonly autoRegistration: "ENABLE" | "DISABLE";
  readonly mode: "DEFAULT" | "SNI_ONLY";
  readonly createdAt?: string;
  /** The template IoT Core provisions its devices from (JITP), when it does; `inline` for a template body. */
  readonly jitpTemplate?: string;
}

export interface CaRegistration {
  readonly caPem: string;
  /** DEFAULT mode proves possession of the CA key with it; SNI_ONLY needs none. */
  readonly verificationPem?: string;
  /** IoT Core's own provisioning of the CA's devices (JITP): the deployment's JITP template. */
  readonly jitpTemplateName?: string;
}

/** IoT Core's CA registry, as an operator onboarding or retiring a CA uses it. */
export interface CaRegistry {
  getRegistrationCode(): Promise<string>;
  /** Registers the CA ACTIVE with auto-registration on; a CA registered before answers its id. */
  registerCa(registration: CaRegistration): Promise<CaCertificateId>;
  describeCa(caCertificateId: CaCertificateId): Promise<CaSummary & { readonly pem: string }>;
  listCaIds(): Promise<CaCertificateId[]>;
  /** ACTIVE with auto-registration on, or INACTIVE with it off. */
  setCaActive(caCertificateId: CaCertificateId, active: boolean): Promise<void>;
  /**
   * Turns the registry's Thing events on (account-wide, off by default): JITP's Thing-created event
   * is one way fleetgate hears of a JITP device. False when they were on already.
   */
  enableThingEvents(): Promise<boolean>;
}

/** IoT Core's policies, as the deployment that keeps the one device policy sees them. */
export interface PolicyRegistry {
  /** The default version's document, or undefined when there is no such policy. */
  getPolicyDocument(policyName: string): Promise<string | undefined>;
  createPolicy(policyName: string, document: string): Promise<void>;
  /** Makes `document` the default version, making room first when IoT's five versions are used. */
  replacePolicyDocument(policyName: string, document: string): Promise<void>;
  /** Attaches the policy to a thing group (by ARN); attaching it again changes nothing. */
  attachPolicy(policyName: string, targetArn: string): Promise<void>;
  /** Idempotent: a policy or attachment that is not there counts as detached. */
  detachPolicy(policyName: string, targetArn: string): Promise<void>;
  /** Deletes the policy and its versions; one that does not exist counts as deleted. */
  deletePolicy(policyName: string): Promise<void>;
}

/** The queue that paces a recall: each message names a few devices to revoke. */
export interface RecallQueue {
  enqueue(message: RecallMessage): Promise<void>;
}

export interface RecallMessage {
  readonly batchId: BatchId;
  readonly page: number;
  /** Where the page starts in the batch's devices; absent for the first page. */
  readonly cursor?: string;
  readonly reason: string;
  readonly actor: string;
}

/** IoT Core's data plane: drops a live MQTT connection now instead of "within minutes". */
export interface ConnectionControl {
  disconnect(clientId: DeviceId): Promise<DisconnectOutcome>;
}

export type DisconnectOutcome = "dropped" | "not-connected" | "failed";

/**
 * IoT Core's inventory, as the reconciler and the expiry watch read it: listings and descriptions,
 * each paced within the account's quotas. It only reads; a repair goes through DeviceRegistry.
 */
export interface IotInventory {
  /** One page of the names of the Things in a thing group. NotFoundError when there is no such group. */
  pageThingsInGroup(
    thingGroupName: string,
    options: { limit: number; cursor?: string },
  ): Promise<Page<DeviceId>>;
  /** The certificates attached to a Thing; undefined when there is no such Thing. */
  thingCertificates(thingName: DeviceId): Promise<CertificateId[] | undefined>;
  /** A certificate's status now; undefined when IoT Core has no such certificate. */
  certificateStatus(certificateId: CertificateId): Promise<CertificateStatus | undefined>;
  /** The Things a certificate (by ARN) is attached to; none when IoT Core has no such certificate. */
  certificateThings(certificateArn: string): Promise<DeviceId[]>;
  /** Every CA registered in the account, with when it expires. */
  caCertificates(): Promise<CaValidity[]>;
}

export interface CaValidity {
  readonly caCertificateId: CaCertificateId;
  readonly status: "ACTIVE" | "INACTIVE";
  /** ISO 8601. */
  readonly notAfter: string;
}

/** Where the scheduled reconciler stopped, so that its next run goes on from there. */
export interface ReconcilerCheckpoint {
  /** The cursor a run stopped at; undefined when the last run finished its pass. */
  readCheckpoint(): Promise<string | undefined>;
  saveCheckpoint(cursor: string | undefined): Promise<void>;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Opaque; absent on the last page. */
  readonly cursor?: string;
}

export type DeviceQuery = { readonly state: DeviceState } | { readonly batchId: BatchId };

export interface ProvisioningState {
  readonly device?: Device;
  readonly record?: CertificateRecord;
  /** The device's pending approval of a replacement certificate. */
  readonly approval?: ReplacementApproval;
}

export type AddDeviceResult =
  | { readonly kind: "added" }
  /** Already on the allowlist, same batch and pins: a resumed registration. */
  | { readonly kind: "unchanged" }
  | { readonly kind: "conflict"; readonly reason: string };

/**
 * The lifecycle table, by role: each use case depends on the roles it needs. Every state change
 * is conditional on the version it read.
 */

/** Devices and their history, as operators see and change them. */
export interface DeviceLedger {
  getDevice(deviceId: DeviceId): Promise<Device | undefined>;
  /** The device's history, oldest first. */
  listEvents(deviceId: DeviceId): Promise<DeviceEvent[]>;
  /** One page of the history; `newestFirst` for "recent events". */
  pageEvents(
    deviceId: DeviceId,
    options: { limit: number; cursor?: string; newestFirst?: boolean },
  ): Promise<Page<DeviceEvent>>;
  /** One page of devices in a state or of a batch, through the secondary indexes. */
  pageDevices(query: DeviceQuery, options: { limit: number; cursor?: string }): Promise<Page<Device>>;
  /** Moves a device from the state and version it was read in, with its event. ConcurrentUpdateError if it moved. */
  transition(device: Device, to: DeviceState, event: DeviceEvent): Promise<Device>;
}

/** What provisioning reads and writes: the allowlist entry and the certificate's record. */
export interface ProvisioningLedger {
  /** One read for the provisioning decision: the allowlist entry and the certificate's record. */
  readProvisioningState(
    certificateId: CertificateId,
    deviceId: DeviceId | undefined,
  ): Promise<ProvisioningState>;
  /** ALLOWED -> PROVISIONING, binding the certificate. ConcurrentUpdateError if the entry moved. */
  claim(device: Device, certificate: BoundCertificate, event: DeviceEvent): Promise<Device>;
  /** PROVISIONING -> ACTIVE with its event. ConcurrentUpdateError if the entry moved. */
  activate(device: Device, event: DeviceEvent): Promise<Device>;
  /** PROVISIONING -> ALLOWED after a failure, recording the certificate's refusal. */
  release(device: Device, record: CertificateRecord, event: DeviceEvent): Promise<void>;
  /** Records a refused certificate (and an event on the device it claimed). False if recorded before. */
  recordRefusal(record: CertificateRecord, event: DeviceEvent | undefined): Promise<boolean>;
  /**
   * Records that a certificate waits (seen once more), unless it was decided meanwhile
   * (ConcurrentUpdateError). Its first sighting is written with `firstEvent`, together; the later
   * ones are counted on the record. Answers since when it has been waiting.
   */
  recordWaiting(record: WaitingSighting, firstEvent: DeviceEvent | undefined): Promise<string>;
  /** Adds an event to a device's history, whether or not the device is on the allowlist. */
  recordEvent(event: DeviceEvent): Promise<void>;
  /**
   * The approved replacement takes over: the device holds `certificate` (conditional on the version
   * read and on still holding the replaced one), the approval is used up, the replaced certificate
   * waits out its retention, with the event. ConcurrentUpdateError if any of it moved.
   */
  commitReplacement(
    device: Device,
    certificate: BoundCertificate,
    approval: ReplacementApproval,
    event: DeviceEvent,
  ): Promise<Device>;
}

/** Approvals of replacement certificates: one pending per device at most. */
export interface ReplacementApprovals {
  /**
   * Records an approval, in place of any earlier one of the device, with its event; conditional on
   * the device being as read. ConcurrentUpdateError if it moved.
   */
  putApproval(device: Device, approval: ReplacementApproval, event: DeviceEvent): Promise<void>;
  /** Approvals that expired before `before`, soonest expired first. */
  pageExpiredApprovals(
    before: string,
    options: { limit: number; cursor?: string },
  ): Promise<Page<ReplacementApproval>>;
  /** Removes an expired approval with its event; false when it was used or replaced meanwhile. */
  expireApproval(approval: ReplacementApproval, event: DeviceEvent): Promise<boolean>;
}

/**
 * Certificates waiting out their retention before they are deleted from IoT Core. Replacing a
 * certificate, revoking or decommissioning a device, and refusing a certificate queue it here.
 */
export interface RetirementLedger {
  /** Certificates retirable since before `before`, oldest first; of one CA when given. */
  pageRetirable(
    query: { readonly before: string; readonly caCertificateId?: CaCertificateId },
    options: { limit: number; cursor?: string },
  ): Promise<Page<RetirableCertificate>>;
  /** Queues a certificate (a rotation's replaced one); one queued before keeps its first time. */
  scheduleRetirement(certificate: RetirableCertificate): Promise<void>;
  /** Takes it off the queue as deleted from IoT Core, with its event; false if recorded before. */
  recordRetired(
    certificate: RetirableCertificate,
    at: string,
    event: DeviceEvent | undefined,
  ): Promise<boolean>;
  /** Where the scheduled retirement stopped; undefined when its last run finished a pass. */
  readRetirementCheckpoint(): Promise<string | undefined>;
  saveRetirementCheckpoint(cursor: string | undefined): Promise<void>;
}

/** The allowlist, as the manufacturing line writes it. */
export interface AllowlistWriter {
  /** Adds allowlist entries; an existing entry is never overwritten. Results match `devices` by index. */
  addDevices(devices: readonly Device[]): Promise<AddDeviceResult[]>;
}

/** Batch records. */
export interface BatchRecords {
  getBatch(batchId: BatchId): Promise<BatchRecord | undefined>;
  /** Creates the batch record in RECEIVED; AlreadyExistsError if the id is taken. */
  createBatch(batch: BatchRecord): Promise<void>;
  /** Records a batch's outcome: state, counts, first issues. */
  finishBatch(batch: BatchRecord): Promise<void>;
  /** Batches, most recent first. */
  pageBatches(options: { limit: number; cursor?: string }): Promise<Page<BatchRecord>>;
}

/** A recall's progress, kept on its batch's record. */
export interface RecallProgress {
  /** Marks a batch as being recalled; AlreadyExistsError if a recall was started before. */
  startRecall(batchId: BatchId, recall: Recall): Promise<void>;
  /** Marks a recall page as queued; false if it was queued before (the next page is queued once). */
  claimRecallPage(batchId: BatchId, page: number): Promise<boolean>;
  /**
   * Counts a recall page done with the devices it could not revoke, and notes when it was the last;
   * counting a page again changes nothing.
   */
  recallPageDone(
    batchId: BatchId,
    page: number,
    last: boolean,
    failures: readonly RecallFailure[],
  ): Promise<void>;
}

/** Every role of the table, for the wiring that builds them together and for in-memory tests. */
export type LifecycleStore = DeviceLedger &
  ProvisioningLedger &
  AllowlistWriter &
  BatchRecords &
  RecallProgress &
  ReplacementApprovals &
  RetirementLedger;

/** One more sighting of a waiting certificate; the store keeps the first time and counts them. */
export type WaitingSighting = Omit<WaitingRecord, "firstSeenAt" | "lastSeenAt" | "attempts"> & {
  readonly at: string;
};

export type { CertificateRecord, Device, DeviceEvent, ManifestRow, Refusal };

/** Fleet provisioning's reads: the hook's one request, and the reservations a connection confirms. */
export interface FleetLedger {
  /** The claim certificate's binding and the identity's allowlist entry, in one read. */
  readFleetState(claimCertificateId: CertificateId, deviceId: DeviceId): Promise<FleetState>;
  /** The entries reserved for any of these certificates and not confirmed yet (PROVISIONING). */
  reservationsOf(certificateIds: readonly CertificateId[]): Promise<Device[]>;
}

export interface FleetState {
  readonly claim?: ClaimBinding;
  readonly device?: Device;
}

/** Claim certificates and the batches each may provision, as the operator keeps them. */
export interface ClaimRegistry {
  /** Records a claim's binding; AlreadyExistsError if that certificate has one. */
  bindClaim(binding: ClaimBinding): Promise<void>;
  getClaim(claimCertificateId: CertificateId): Promise<ClaimBinding | undefined>;
  /** Marks the claim revoked, keeping its record; false if it was revoked before. */
  revokeClaim(
    claimCertificateId: CertificateId,
    revoked: NonNullable<ClaimBinding["revoked"]>,
  ): Promise<boolean>;
  /** Claims, most recent first. */
  pageClaims(options: { limit: number; cursor?: string }): Promise<Page<ClaimBinding>>;
}

/** IoT Core's side of a claim certificate: made with its key there, or from the operator's CSR. */
export interface ClaimIssuer {
  /** An ACTIVE certificate; the private key comes back only when IoT Core made it. */
  createCertificate(csrPem?: string): Promise<IssuedCertificate>;
}

export interface IssuedCertificate {
  readonly certificateId: CertificateId;
  readonly certificateArn: string;
  readonly certificatePem: string;
  readonly privateKeyPem?: string;
}

/**
 * Issues the certificate a rotation asks for: IoT Core's own CA (CreateCertificateFromCsr), or an
 * operator's private CA behind the same port (it would sign and register the certificate).
 */
export interface CertificateIssuer {
  /** A certificate for the request, registered in IoT Core INACTIVE: it is activated once attached. */
  issue(csrPem: string): Promise<IssuedCertificate>;
}

/** What fleetgate says to a device, on the device's own topics (IoT Core's data plane). */
export interface DeviceMessages {
  /** Publishes `payload` as JSON, QoS 1, on `<topic prefix>/<deviceId>/<subtopic>`. */
  send(deviceId: DeviceId, subtopic: string, payload: object): Promise<void>;
}

/** Delivers a rotation's timer back after a delay of at most TIMER_QUEUE_MAX_SECONDS (a delayed message). */
export interface TimerQueue {
  send(timer: RotationTimer, delaySeconds: number): Promise<void>;
}

/** Timers due later than a queue can delay them wait here, until a sweep queues them. */
export interface ParkedTimers {
  park(timer: RotationTimer): Promise<void>;
  /** Parked timers due before `before`, soonest first. */
  dueBefore(before: string, limit: number): Promise<RotationTimer[]>;
  /** Takes a timer off the park, once it is queued; one not parked counts as taken. */
  unpark(timer: RotationTimer): Promise<void>;
}

/** IoT Jobs, as rotation tells devices to rotate their certificate. */
export interface DeviceJobs {
  /** Creates a snapshot job for these devices' Things; the same job id again changes nothing. */
  createJob(job: DeviceJob): Promise<void>;
}

export interface DeviceJob {
  /** 1-64 of [a-zA-Z0-9_-]. */
  readonly jobId: string;
  readonly deviceIds: readonly DeviceId[];
  readonly document: object;
  readonly description: string;
  /** How many devices IoT Jobs notifies a minute (its rollout), at most 1000. */
  readonly perMinute: number;
  /** How long a device may keep its execution IN_PROGRESS before IoT Jobs times it out. */
  readonly inProgressMinutes: number;
}

/** Devices' rotations in the lifecycle table. */
export interface RotationLedger {
  getDevice(deviceId: DeviceId): Promise<Device | undefined>;
  /**
   * Writes the device's rotation (and on a commit, its certificate) with its events, conditional on
   * the version it was read in: ConcurrentUpdateError if the device moved meanwhile.
   */
  saveRotation(device: Device, change: RotationChange): Promise<Device>;
  /** Adds an event to a device's history. */
  recordEvent(event: DeviceEvent): Promise<void>;
}

export interface RotationChange {
  readonly rotation: Rotation;
  /** The device's certificate from now on: the new one, at the commit. */
  readonly certificate?: BoundCertificate;
  readonly events: readonly DeviceEvent[];
  /** A certificate the rotation issued: recorded as the device's (ASSIGNED), as provisioning records its own. */
  readonly assigned?: CertificateId;
  /** A certificate the rotation took out of use, queued for retirement with the change. */
  readonly retire?: RetirableCertificate;
}
