import type { DeviceId } from "#domain/ids.js";
import type { IotInventory } from "./ports.js";
import {
  type ProvisioningDeps,
  type ProvisioningOutcome,
  provisionCertificate,
} from "./provision-certificate.js";

export interface JitpThingDeps extends ProvisioningDeps {
  readonly things: Pick<IotInventory, "thingCertificates">;
}

/**
 * A Thing JITP made (the registry's created event): each certificate attached to it is decided as
 * its registered event would have it. Either event may come, or both, in any order: provisioning a
 * certificate twice is provisioning it once.
 */
export const provisionJitpThing = async (
  deps: JitpThingDeps,
  thingName: DeviceId,
): Promise<ProvisioningOutcome[]> => {
  const outcomes: ProvisioningOutcome[] = [];
  for (const certificateId of (await deps.things.thingCertificates(thingName)) ?? [])
    outcomes.push(await provisionCertificate(deps, { certificateId }));
  return outcomes;
};
