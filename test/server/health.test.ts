import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { livenessCheck } from '../../src/server/health.ts';

// The fake timers move the wall clock: the check reads it here instead of the monotonic one.
const wallClock = () => Date.now();

describe('liveness', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reports how late its ticks fire as the event loop's delay, over the last five minutes", () => {
    const live = livenessCheck(10_000, wallClock);
    expect(live.p99DelayMs()).toBe(0);
    // 100 ticks on time, then five each 700 ms late (the loop was busy that long each time).
    vi.advanceTimersByTime(100_000);
    expect(live.p99DelayMs()).toBe(0);
    for (let i = 0; i < 5; i++) {
      vi.setSystemTime(Date.now() + 700);
      vi.advanceTimersByTime(1000);
    }
    expect(live.p99DelayMs()).toBe(700);
    // Five minutes of ticks on time later, it is forgotten.
    vi.advanceTimersByTime(300_000);
    expect(live.p99DelayMs()).toBe(0);
    expect(live.alive()).toBe(true);
    live.stop();
  });

  it('takes a step of the wall clock for neither a delay nor a stuck loop', () => {
    const live = livenessCheck(10_000); // the monotonic clock, which fake timers leave alone
    vi.advanceTimersByTime(5000);
    vi.setSystemTime(Date.now() + 60_000); // an NTP step
    expect(live.alive()).toBe(true);
    vi.advanceTimersByTime(1000);
    expect(live.p99DelayMs()).toBe(0);
    expect(live.alive()).toBe(true);
    live.stop();
  });

  it('is not alive once its timer has not fired for stuckAfterMs', () => {
    const live = livenessCheck(10_000, wallClock);
    vi.advanceTimersByTime(5000);
    expect(live.alive()).toBe(true);
    // The loop is stuck: the clock moves, no timer fires.
    vi.setSystemTime(Date.now() + 11_000);
    expect(live.alive()).toBe(false);
    live.stop();
  });
});
