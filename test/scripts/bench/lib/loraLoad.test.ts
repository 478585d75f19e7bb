/**
 * bench:lora's load report (scripts/bench/lib/loraLoad.ts): per variant and rank the latencies and
 * CPU ms, the phases of the chosen rank, and each later variant's ratios to the first.
 */
import { describe, expect, it } from 'vitest';
import { COLD_PHASES, WARM_PHASES, loadReportLines, loadTail, type LoadFigures, type LoadSample } from '../../../../scripts/bench/lib/loraLoad.ts';

const warmSample = (ms: number, i: number): LoadSample<LoadFigures['warmP50']> => ({ adapter: i % 6, start: 0, end: ms, ms, cpuMs: ms / 2, gcMs: ms > 50 ? 40 : 0, phases: { manager: 0.1, pack: 0, staging: 0, copy: 0, submit: ms / 4, gpu: ms - 0.1 - ms / 4 }, via: 'held' });

function figures(variant: string, rank: number, scale: number): LoadFigures {
  const warm = [5, 6, 7, 80].map((ms, i) => warmSample(ms * scale, i));
  const cold: Array<LoadSample<LoadFigures['coldP50']>> = [{ adapter: 0, start: 0, end: 100 * scale, ms: 100 * scale, cpuMs: 80, gcMs: 1, phases: Object.fromEntries(COLD_PHASES.map((k) => [k, 100 * scale / COLD_PHASES.length])) as LoadFigures['coldP50'] }];
  return {
    gcP50: { cold: 1, warm: 0 },
    coldTail: loadTail(cold, COLD_PHASES),
    warmTail: loadTail(warm, WARM_PHASES),
    perSample: { cold, warm },
    variant,
    rank,
    cold: { p50: 100 * scale, p99: 150 * scale },
    warm: { p50: 10 * scale, p99: 20 * scale },
    cpuMs: { cold: 80 * scale, warm: 8 * scale },
    readAndHashP50: 1234,
    samples: { cold: 3, warm: 24 },
    fileBytes: 9.4 * 2 ** 20,
    coldP50: Object.fromEntries(COLD_PHASES.map((k, i) => [k, i])) as LoadFigures['coldP50'],
    warmP50: Object.fromEntries(WARM_PHASES.map((k, i) => [k, i * scale])) as LoadFigures['warmP50'],
    via: { [variant === 'reuse' ? 'held' : 'ring']: 24 },
    bytes: 18.6 * 2 ** 20,
    copies: 240,
  };
}

describe('bench:lora load report', () => {
  it('prints each variant, the phases of the chosen rank and the ratios to the first variant', () => {
    const lines = loadReportLines([figures('copy', 8, 1), figures('copy', 16, 1), figures('reuse', 8, 0.5), figures('reuse', 16, 0.6)], 16, '1.00 2.00 3.00');
    expect(lines.filter((l) => /^ {3}rank (8|16) +(copy|reuse) +\d/.test(l))).toHaveLength(4);
    expect(lines).toContain('   cold rank 16 reuse, p50 ms: read 0.00, parse 1.00, hash 2.00, pack 3.00, rest 4.00, staging 5.00, copy 6.00, submit 7.00, gpu 8.00; GC 1.00');
    expect(lines.some((l) => l.startsWith('   warm rank 16 copy, p50 ms: manager 0.00') && l.endsWith('(24 via ring; 18.6 MiB in 240 copies)'))).toBe(true);
    expect(lines.filter((l) => l.startsWith('   cold rank 8'))).toEqual([]); // phases of the chosen rank only
    expect(lines).toContain('   rank 16 reuse / copy: cold p50 0.60x p99 0.60x, warm p50 0.60x p99 0.60x; CPU ms cold 0.60x, warm 0.60x');
    expect(lines).toContain('   rank 8 reuse / copy: cold p50 0.50x p99 0.50x, warm p50 0.50x p99 0.50x; CPU ms cold 0.50x, warm 0.50x');
    expect(lines.at(-1)).toBe('   load average 1.00 2.00 3.00');
    const tail = lines.indexOf('   warm rank 16 copy, tail (1 at or above p95, mean 80.0 ms): manager 0.10, pack 0.00, staging 0.00, copy 0.00, submit 20.00, gpu 59.90; GC 40.00; slowest:');
    expect(tail).toBeGreaterThan(0);
    expect(lines[tail + 1]).toBe('       80.0 ms (adapter 3 via held, CPU 40.0, GC 40.00): manager 0.10, pack 0.00, staging 0.00, copy 0.00, submit 20.00, gpu 59.90');
    expect(lines[tail + 3]).toMatch(/^ +6\.0 ms \(adapter 1 via held/); // the three slowest, slowest first
  });

  it('takes the tail at or above the p95: the mean of its phases and GC, and the slowest samples', () => {
    const samples = Array.from({ length: 40 }, (_, i) => warmSample(i === 7 ? 90 : i === 30 ? 60 : i === 12 ? 30 : 5, i));
    const t = loadTail(samples, WARM_PHASES);
    expect(t.count).toBe(3); // the p95 of 40 by nearest rank is the 38th smallest (30): it, 60 and 90
    expect(t.ms).toBe(60);
    expect(t.gcMs).toBe(80 / 3);
    expect(t.phases.submit).toBe(60 / 4);
    expect(t.slowest.map((x) => x.ms)).toEqual([90, 60, 30]);
  });

  it('names no variant and prints no ratio with one', () => {
    const lines = loadReportLines([figures('reuse', 16, 1)], 16, '1');
    expect(lines[1]).toMatch(/^ {3}rank 16 +100\.0 \/ 150\.0 +10\.0 \/ 20\.0 +80\.0 \/ 8\.0 +9 MiB; 1234\.0 ms$/);
    expect(lines.some((l) => l.includes(' / reuse'))).toBe(false);
  });
});
