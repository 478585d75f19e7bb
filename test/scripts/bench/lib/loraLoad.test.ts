/**
 * bench:lora's load report (scripts/bench/lib/loraLoad.ts): per variant and rank the latencies and
 * CPU ms, the phases of the chosen rank, and each later variant's ratios to the first.
 */
import { describe, expect, it } from 'vitest';
import { COLD_PHASES, WARM_PHASES, loadReportLines, type LoadFigures } from '../../../../scripts/bench/lib/loraLoad.ts';

function figures(variant: string, rank: number, scale: number): LoadFigures {
  return {
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
    expect(lines).toContain('   cold rank 16 reuse, p50 ms: read 0.00, parse 1.00, hash 2.00, pack 3.00, rest 4.00, upload 5.00, gpu 6.00');
    expect(lines.some((l) => l.startsWith('   warm rank 16 copy, p50 ms: manager 0.00') && l.endsWith('(24 via ring; 18.6 MiB in 240 copies)'))).toBe(true);
    expect(lines.filter((l) => l.startsWith('   cold rank 8'))).toEqual([]); // phases of the chosen rank only
    expect(lines).toContain('   rank 16 reuse / copy: cold p50 0.60x p99 0.60x, warm p50 0.60x p99 0.60x; CPU ms cold 0.60x, warm 0.60x');
    expect(lines).toContain('   rank 8 reuse / copy: cold p50 0.50x p99 0.50x, warm p50 0.50x p99 0.50x; CPU ms cold 0.50x, warm 0.50x');
    expect(lines.at(-1)).toBe('   load average 1.00 2.00 3.00');
  });

  it('names no variant and prints no ratio with one', () => {
    const lines = loadReportLines([figures('reuse', 16, 1)], 16, '1');
    expect(lines[1]).toMatch(/^ {3}rank 16 +100\.0 \/ 150\.0 +10\.0 \/ 20\.0 +80\.0 \/ 8\.0 +9 MiB; 1234\.0 ms$/);
    expect(lines.some((l) => l.includes(' / reuse'))).toBe(false);
  });
});
