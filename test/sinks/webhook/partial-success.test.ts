import { describe, expect, it } from 'vitest';
import { rejectedInSuccess } from '../../../src/sinks/webhook/partial-success.ts';

describe('OTLP partial success', () => {
  it('reads rejectedLogRecords (a string or a number) from an OTLP 2xx body', () => {
    expect(rejectedInSuccess('otlp', '{"partialSuccess":{"rejectedLogRecords":"2"}}')).toBe(2);
    expect(rejectedInSuccess('otlp', '{"partialSuccess":{"rejectedLogRecords":3}}')).toBe(3);
  });

  it('takes an empty, non-JSON or full-success body, and every other format, as no rejection', () => {
    expect(rejectedInSuccess('otlp', '')).toBe(0);
    expect(rejectedInSuccess('otlp', 'ok')).toBe(0);
    expect(rejectedInSuccess('otlp', '{}')).toBe(0);
    expect(rejectedInSuccess('otlp', '{"partialSuccess":{"rejectedLogRecords":"x"}}')).toBe(0);
    expect(rejectedInSuccess('ndjson', '{"partialSuccess":{"rejectedLogRecords":2}}')).toBe(0);
  });
});
