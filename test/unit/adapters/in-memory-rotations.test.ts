import { rotationStoreContract } from "#test/contract/rotation-store.js";
import { InMemoryRotations } from "#test/support/rotation-world.js";

// The rotation store the use-case tests run on keeps the deployed store's promises (test/contract/).
rotationStoreContract("in memory", async () => {
  const store = new InMemoryRotations();
  return {
    ledger: store,
    campaigns: store,
    timers: store,
    seed: async (device) => {
      store.devices.set(device.deviceId, device);
    },
  };
});
