// What `fleetgate ca` runs with the operator's credentials: its commands and IoT Core's CA registry.

export { iotCas } from "#adapters/iot-cas.js";
export { addCaCommands } from "#cli/ca-commands.js";
