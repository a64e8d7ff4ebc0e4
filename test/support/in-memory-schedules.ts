import type { ScheduleState, ScheduleStore } from "#adapters/iot-budget.js";

/**
 * The IoT budget's schedules in memory, with the DynamoDB adapter's semantics: a write lands only
 * if the stored version is the one the writer read, and a lost race answers the stored schedule.
 */
export class InMemoryScheduleStore implements ScheduleStore {
  readonly items = new Map<string, ScheduleState>();
  writes = 0;
  conflicts = 0;

  async swap(operation: string, expected: ScheduleState | undefined, next: ScheduleState) {
    const current = this.items.get(operation);
    if (expected?.version !== current?.version) {
      this.conflicts += 1;
      return { swapped: false as const, current };
    }
    this.items.set(operation, next);
    this.writes += 1;
    return { swapped: true as const };
  }
}
