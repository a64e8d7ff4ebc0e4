import { describe, expect, it } from "vitest";
import { loadIngestConfig, loadOperationsConfig, loadProvisioningConfig } from "#adapters/config.js";
import { ConfigurationError } from "#domain/errors.js";

describe("configuration", () => {
  const base = {
    DEVICES_TABLE: "devices",
    DEVICE_THING_GROUP: "fleetgate-devices",
  };

  it("fills the defaults and reads numbers", () => {
    expect(loadProvisioningConfig({ ...base, CLOCK_SKEW_SECONDS: "60" })).toMatchObject({
      DEVICE_ID_FIELD: "CN",
      TOPIC_PREFIX: "devices",
      CLOCK_SKEW_SECONDS: 60,
      IOT_QUOTA_SHARE: 1,
      IOT_BACKGROUND_SHARE: 0.1,
      ALLOWLIST_WAIT_DAYS: 30,
    });
  });

  it("refuses an IoT budget share of nothing, and a background share above the whole", () => {
    expect(() => loadProvisioningConfig({ ...base, IOT_QUOTA_SHARE: "0" })).toThrow(/IOT_QUOTA_SHARE/);
    expect(() => loadProvisioningConfig({ ...base, IOT_BACKGROUND_SHARE: "1.5" })).toThrow(
      /IOT_BACKGROUND_SHARE/,
    );
  });

  it("stops with a message naming every bad variable", () => {
    expect(() => loadProvisioningConfig({ DEVICE_ID_FIELD: "email" })).toThrow(ConfigurationError);
    expect(() => loadProvisioningConfig({ DEVICE_ID_FIELD: "email" })).toThrow(
      /DEVICES_TABLE.*DEVICE_THING_GROUP.*DEVICE_ID_FIELD/,
    );
    expect(() => loadProvisioningConfig({ ...base, TOPIC_PREFIX: "devices/#" })).toThrow(/TOPIC_PREFIX/);
    expect(() => loadProvisioningConfig({ ...base, DEVICE_THING_GROUP: "a/b" })).toThrow(
      /DEVICE_THING_GROUP/,
    );
    expect(() => loadProvisioningConfig({ ...base, ALLOWLIST_WAIT_DAYS: "0" })).toThrow(
      /ALLOWLIST_WAIT_DAYS/,
    );
  });

  it("treats blank optional parameters as unset, as a deployment leaves them", () => {
    const config = loadIngestConfig({
      ...base,
      MANIFEST_BUCKET: "bucket",
      THING_TYPE_NAME: "",
      FACTORY_PUBLIC_KEYS: "",
    });
    expect(config.THING_TYPE_NAME).toBeUndefined();
    expect(config.FACTORY_PUBLIC_KEYS).toBeUndefined();
  });

  it("refuses factory keys that are not EC P-256 public keys", () => {
    const env = {
      ...base,
      MANIFEST_BUCKET: "b",
      RECALL_QUEUE_URL: "https://sqs.local/q",
      FACTORY_PUBLIC_KEYS: "not a key",
    };
    expect(() => loadOperationsConfig(env)).toThrow(/FACTORY_PUBLIC_KEYS must hold PEM public keys/);
  });
});
