import { benchAwsCalls } from "./aws-calls.js";
import { benchDecisionCpu } from "./decision-cpu.js";

/** `npm run bench`: prints the numbers the issues ask for. Not a test: nothing here passes or fails. */
console.log("Provisioning decision, CPU per device (parse + verify against CA + checks + decide)");
console.table(await benchDecisionCpu());

console.log(
  "AWS calls per provisioned device, through the JITR handler against moto (targets: IoT <= 6, DynamoDB <= 3)",
);
const calls = await benchAwsCalls();
console.table(calls.rows);
console.log(`  first device: ${calls.coldDetail}`);
console.log(`  steady state: ${calls.steadyDetail}`);
console.log(`  (moto, one process, unpaced: ${calls.motoDevicesPerSecond} devices/s; not a claim about AWS)`);
