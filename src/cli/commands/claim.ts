import type { Command } from 'commander';
import { formatUnits } from 'viem';
import { readAttributionReport } from '../../attribution/report.ts';
import { claimRewards } from '../../attribution/rewards.ts';
import { addChainOptions, chainContextFromOptions, type ChainOptions } from '../chainOptions.ts';

const list = (value: string, previous: string[] = []) => [...previous, ...value.split(',').filter(Boolean)];

/** `openlora claim`: claim all attribution rewards of the key's address in one transaction. */
export function registerClaim(program: Command): void {
  addChainOptions(program
    .command('claim')
    .description('claim the signer\'s attribution rewards on every adapter of the reports, in one transaction (proofs from the published trees)')
    .requiredOption('--attribution <files>', 'published attribution reports, comma-separated (repeatable)', list)
    .option('--json', 'print JSON'))
    .action(async (o: ChainOptions & { attribution: string[]; json?: boolean }) => {
      const reports = await Promise.all(o.attribution.map((f) => readAttributionReport(f)));
      const ctx = await chainContextFromOptions(o, { needsKey: true, what: '`claim`' });
      const r = await claimRewards({ ctx, reports });
      process.stdout.write(o.json ? JSON.stringify({ ...r, amount: r.amount.toString() }) + '\n' : `Claimed ${formatUnits(r.amount, 18)} tokens from ${r.adapterIds.length} adapter(s) in ${r.txHash}\n`);
    });
}
