/**
 * Remembers the first line of each device id of a manifest in about 24 bytes per id, where a Map
 * of a million entries costs several times that: an open-addressing table of 48-bit id hashes
 * (exact in a double) and their line numbers, grown at half load.
 */
export class FirstSeenIndex {
  private keys = new Float64Array(1024).fill(-1);
  private lines = new Uint32Array(1024);
  private count = 0;

  /** The line recorded for this hash, or undefined. */
  get(hash: number): number | undefined {
    const slot = this.find(this.keys, hash);
    return this.keys[slot] === hash ? this.lines[slot] : undefined;
  }

  /** Records the line for a hash not seen before. */
  set(hash: number, line: number): void {
    if ((this.count + 1) * 2 > this.keys.length) this.grow();
    const slot = this.find(this.keys, hash);
    if (this.keys[slot] !== hash) this.count += 1;
    this.keys[slot] = hash;
    this.lines[slot] = line;
  }

  private find(keys: Float64Array, hash: number): number {
    const mask = keys.length - 1;
    // The hash is already uniform: its low bits pick the slot.
    let slot = (hash % keys.length) & mask;
    while (keys[slot] !== -1 && keys[slot] !== hash) slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldLines = this.lines;
    this.keys = new Float64Array(oldKeys.length * 2).fill(-1);
    this.lines = new Uint32Array(oldKeys.length * 2);
    for (let i = 0; i < oldKeys.length; i += 1) {
      const key = oldKeys[i] as number;
      if (key === -1) continue;
      const slot = this.find(this.keys, key);
      this.keys[slot] = key;
      this.lines[slot] = oldLines[i] as number;
    }
  }
}
