import { describe, expect, it } from 'vitest';
import { sleepUntilNextDue } from './wake-up.js';

describe('sleepUntilNextDue', () => {
  const now = () => 1_000;

  it('asks for work due after the moment the loop last looked, not after now', async () => {
    const asked: number[] = [];
    const sleep = await sleepUntilNextDue(
      async (at) => {
        asked.push(at);
        return 900;
      },
      800,
      now,
      60_000,
    );
    expect(asked).toEqual([800]);
    // Due while the loop was busy: go round again at once.
    expect(sleep).toBe(1);
  });

  it('sleeps until the next item, at most the cap', async () => {
    expect(await sleepUntilNextDue(async () => 1_250, 1_000, now, 60_000)).toBe(250);
    expect(await sleepUntilNextDue(async () => 90_000, 1_000, now, 60_000)).toBe(60_000);
  });

  it('sleeps the cap when nothing is due or the store cannot say', async () => {
    expect(await sleepUntilNextDue(async () => null, 1_000, now, 5_000)).toBe(5_000);
    expect(await sleepUntilNextDue(() => Promise.reject(new Error('database gone')), 1_000, now, 5_000)).toBe(
      5_000,
    );
  });
});
