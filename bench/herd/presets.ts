import type { Scenario } from "./scenario.js";

/**
 * The issue's table, each row a named preset, and the goals' other weathers: 10,000 devices unless
 * said; IoT Core's buckets hold 10 tokens (a second's worth) unless said; its latency is fixed unless
 * said (jitter: each call's round trip anywhere from half to one and a half times it); DynamoDB
 * answers in 8 ms.
 */
const HERD = 10_000;
const AT_ONCE = 100;
const HOUR = 3_600_000;

export const PRESETS: Record<string, Scenario> = {
  "latency-10ms": { name: "latency-10ms", devices: HERD, arrivalWindowMs: AT_ONCE, latencyMs: 10, burst: 10 },
  "latency-50ms": { name: "latency-50ms", devices: HERD, arrivalWindowMs: AT_ONCE, latencyMs: 50, burst: 10 },
  "latency-100ms": {
    name: "latency-100ms",
    devices: HERD,
    arrivalWindowMs: AT_ONCE,
    latencyMs: 100,
    burst: 10,
  },
  "latency-200ms": {
    name: "latency-200ms",
    devices: HERD,
    arrivalWindowMs: AT_ONCE,
    latencyMs: 200,
    burst: 10,
  },
  "little-burst": { name: "little-burst", devices: HERD, arrivalWindowMs: AT_ONCE, latencyMs: 50, burst: 1 },
  "big-burst": { name: "big-burst", devices: HERD, arrivalWindowMs: AT_ONCE, latencyMs: 50, burst: 100 },
  jitter: { name: "jitter", devices: HERD, arrivalWindowMs: AT_ONCE, latencyMs: 100, jitter: 0.5, burst: 10 },
  "jitter-no-burst": {
    name: "jitter-no-burst",
    devices: HERD,
    arrivalWindowMs: AT_ONCE,
    latencyMs: 100,
    jitter: 0.5,
    burst: 1,
  },
  "other-caller": {
    name: "other-caller",
    devices: HERD,
    arrivalWindowMs: AT_ONCE,
    latencyMs: 50,
    burst: 10,
    otherCallerTps: 5,
  },
  "ingest-at-once": {
    name: "ingest-at-once",
    devices: 2_000,
    arrivalWindowMs: AT_ONCE,
    latencyMs: 50,
    burst: 10,
    preRegistered: 2_000,
  },
  "spread-hour": { name: "spread-hour", devices: HERD, arrivalWindowMs: HOUR, latencyMs: 50, burst: 10 },
  "quota-taken-hour": {
    name: "quota-taken-hour",
    devices: HERD,
    arrivalWindowMs: AT_ONCE,
    latencyMs: 50,
    burst: 10,
    blackoutMs: HOUR,
  },
  // One container alone, in a process of its own: its peak memory is a Lambda container's (plus the doubles).
  "one-container": {
    name: "one-container",
    devices: 2_000,
    arrivalWindowMs: AT_ONCE,
    latencyMs: 50,
    burst: 10,
    eventSource: { pollers: 1 },
  },
  "herd-100k": { name: "herd-100k", devices: 100_000, arrivalWindowMs: AT_ONCE, latencyMs: 50, burst: 10 },
};

/** The table's rows, in order; the 100,000-device run is asked for by name. */
export const TABLE = [
  "latency-10ms",
  "latency-50ms",
  "latency-100ms",
  "latency-200ms",
  "little-burst",
  "big-burst",
  "jitter",
  "jitter-no-burst",
  "other-caller",
  "ingest-at-once",
  "spread-hour",
  "quota-taken-hour",
];
