/** The moto server for tests: the same implementation `npm start` and the benchmarks use. */
export { type MotoServer, resetMoto, startMotoServer } from "#local/moto-server.js";
