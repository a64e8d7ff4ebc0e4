import { inspectCertificate } from "#domain/certificate.js";
import {
  checkDeviceCertificate,
  DEFAULT_CERTIFICATE_POLICY,
  readDeviceId,
} from "#domain/certificate-checks.js";
import type { Device } from "#domain/device.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { decideProvisioning } from "#domain/provisioning-decision.js";
import { createCa, issueDeviceCertificate, type KeySpec } from "#local/dev-pki.js";

/**
 * CPU time of the provisioning decision for one device: parse the PEM, verify it against its CA,
 * run every check, read the device id and decide. No I/O: this is the Lambda's own cost per device.
 */
const DEVICES = Number(process.env.BENCH_DEVICES ?? 300);

const measure = async (label: string, key: KeySpec) => {
  const ca = await createCa({ key });
  const caInspection = inspectCertificate(ca.pem);
  if (!caInspection.ok) throw new Error(caInspection.error);
  const pems: string[] = [];
  for (let i = 0; i < DEVICES; i += 1)
    pems.push((await issueDeviceCertificate(ca, { deviceId: `bench-${i}`, key })).pem);
  const now = new Date();
  const entry = (deviceId: string): Device => ({
    deviceId: deviceId as DeviceId,
    state: "ALLOWED",
    batchId: "b" as BatchId,
    caCertificateId: "a".repeat(64) as CaCertificateId,
    attributes: {},
    pins: {},
    version: 1,
    createdAt: "",
    updatedAt: "",
  });
  const decideOne = async (pem: string) => {
    const inspection = inspectCertificate(pem);
    if (!inspection.ok) throw new Error(inspection.error);
    const refusal = await checkDeviceCertificate(
      inspection.certificate,
      caInspection.certificate,
      now,
      DEFAULT_CERTIFICATE_POLICY,
    );
    const id = readDeviceId(inspection.certificate, "CN");
    if (refusal || !id.ok) throw new Error("bench certificate refused");
    const decision = decideProvisioning({
      certificateId: "c".repeat(64) as CertificateId,
      certificateStatus: "PENDING_ACTIVATION",
      caCertificateId: "a".repeat(64) as CaCertificateId,
      certificate: { ok: true, facts: inspection.certificate.facts, deviceId: id.deviceId },
      device: entry(id.deviceId),
      record: undefined,
      now,
      waitLimitMs: 30 * 86_400_000,
    });
    if (decision.kind !== "provision") throw new Error(`unexpected decision ${decision.kind}`);
  };
  for (const pem of pems.slice(0, 20)) await decideOne(pem); // warm up the JIT
  const samples: number[] = [];
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  for (const pem of pems) {
    const start = performance.now();
    await decideOne(pem);
    samples.push(performance.now() - start);
  }
  const cpu = process.cpuUsage(cpuStart);
  const wall = performance.now() - wallStart;
  samples.sort((a, b) => a - b);
  const pick = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0;
  return {
    certificates: label,
    devices: DEVICES,
    "cpu ms/device": ((cpu.user + cpu.system) / 1000 / DEVICES).toFixed(3),
    "wall ms/device": (wall / DEVICES).toFixed(3),
    "p50 ms": pick(0.5).toFixed(3),
    "p99 ms": pick(0.99).toFixed(3),
  };
};

export const benchDecisionCpu = async () => [
  await measure("EC P-256 / ECDSA-SHA256", { type: "EC", curve: "P-256" }),
  await measure("EC P-384 / ECDSA-SHA256", { type: "EC", curve: "P-384" }),
  await measure("RSA 2048 / SHA256-RSA", { type: "RSA", bits: 2048 }),
];
