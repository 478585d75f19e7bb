import { Command, InvalidArgumentError } from 'commander';
import { formatUnits, getAddress, isAddress, type Address } from 'viem';
import { readAttributionReport } from '../../attribution/report.ts';
import { rewardsOf } from '../../attribution/rewards.ts';
import { addChainOptions, chainContextFromOptions, type ChainOptions } from '../chainOptions.ts';

const list = (value: string, previous: string[] = []) => [...previous, ...value.split(',').filter(Boolean)];

/** `openlora rewards ADDRESS`: per adapter, the contributor's weight, share, accrued and claimed amounts. */
export function registerRewards(program: Command): void {
  addChainOptions(program
    .command('rewards <address>')
    .description('show a contributor\'s attribution rewards per adapter (weight, share, accrued, claimed, claimable)')
    .requiredOption('--attribution <files>', 'published attribution reports, comma-separated (repeatable)', list)
    .option('--json', 'print JSON'))
    .action(async (address: string, o: ChainOptions & { attribution: string[]; json?: boolean }) => {
      if (!isAddress(address)) throw new InvalidArgumentError(`"${address}" is not an address.`);
      const who: Address = getAddress(address);
      const reports = await Promise.all(o.attribution.map((f) => readAttributionReport(f)));
      const ctx = await chainContextFromOptions(o, { needsKey: false });
      const rows = await rewardsOf({ ctx, address: who, reports });
      if (o.json) {
        process.stdout.write(JSON.stringify(rows, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
        return;
      }
      const fmt = (v: bigint) => formatUnits(v, 18);
      const lines = rows.map((r) => `  ${r.adapterId}  weight ${r.weight}/${r.totalWeight} (${(r.share * 100).toFixed(2)}%)  accrued ${fmt(r.accrued)}  claimed ${fmt(r.claimed)}  claimable ${fmt(r.claimable)}${r.rootOnChain ? '' : '  [report root not on-chain]'}`);
      process.stdout.write([`Rewards of ${who}:`, ...lines].join('\n') + '\n');
    });
}
