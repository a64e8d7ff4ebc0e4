import { PRESETS } from "./presets.js";
import { runScenario } from "./scenario.js";

/** Runs one scenario (a preset's name, then optional JSON overrides) and prints its result as JSON. */
const [name = "latency-50ms", overrides = "{}"] = process.argv.slice(2);
const preset = PRESETS[name];
if (!preset) throw new Error(`no preset ${name}; presets: ${Object.keys(PRESETS).join(", ")}`);
const result = await runScenario({ ...preset, ...(JSON.parse(overrides) as object) });
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
