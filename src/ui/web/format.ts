import { formatUnits } from 'viem';

/** Token amounts (18 decimals): up to 6 fractional digits, or every digit below 10^-6 (dev amounts are a few hundred base units). */
export function tokens(value: string | bigint): string {
  const exact = formatUnits(BigInt(value), 18);
  const [whole, frac = ''] = exact.split('.');
  if (whole === '0' && /^0{6}/.test(frac)) return exact;
  const f = frac.slice(0, 6).replace(/0+$/, '');
  return f ? `${whole}.${f}` : whole;
}

/** A number with at most `digits` fractional digits. */
export function num(value: number, digits = 1): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** Bytes as KiB/MiB/GiB. */
export function bytes(n: number | null): string {
  if (n === null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${num(v, i === 0 ? 0 : 1)} ${units[i]}`;
}

/** `0x1234…abcd`. */
export function short(hex: string): string {
  return hex.length > 14 ? `${hex.slice(0, 8)}…${hex.slice(-4)}` : hex;
}

/** Seconds from now as "in 3 m 20 s" / "12 s ago". */
export function relative(ms: number, now = Date.now()): string {
  const s = Math.round((ms - now) / 1000);
  const a = Math.abs(s);
  const text = a >= 3600 ? `${Math.floor(a / 3600)} h ${Math.floor((a % 3600) / 60)} m` : a >= 60 ? `${Math.floor(a / 60)} m ${a % 60} s` : `${a} s`;
  return s >= 0 ? `in ${text}` : `${text} ago`;
}
