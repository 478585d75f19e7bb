import type { Command } from 'commander';
import { formatUnits, getAddress, isAddress, type Address } from 'viem';
import { readAttributionReport } from '../../attribution/reportFile.ts';
import { rewardsOf, type AdapterRewards } from '../../attribution/rewards.ts';
import { creditsOf } from '../../payments/credits.ts';
import { addChainOptions, chainContextFromOptions, devFromOptions, type ChainOptions } from '../chainOptions.ts';
import { CliUsageError } from '../errors.ts';

const list = (value: string, previous: string[] = []) => [...previous, ...value.split(',').filter(Boolean)];

/**
 * `openlora rewards ADDRESS`: what an address can claim as node operator and adapter owner
 * (`PaymentChannels` credit, per adapter it serves or owns), as prover (`NodeRegistry` credit) and,
 * with `--attribution`, as Datanet contributor per adapter (weight, share, accrued, claimed).
 */
export function registerRewards(program: Command): void {
  addChainOptions(program
    .command('rewards <address>')
    .description('show what an address can claim: node operator and adapter owner credits (per adapter), prover rewards, and with --attribution its contributor rewards per adapter')
    .option('--attribution <files>', 'published attribution reports, comma-separated (repeatable), for contributor rewards (default with --dev: the dev adapters\' reports)', list)
    .option('--json', 'print JSON'))
    .action(async (address: string, o: ChainOptions & { attribution?: string[]; json?: boolean }) => {
      if (!isAddress(address)) throw new CliUsageError(`"${address}" is not an address.`, 'openlora rewards', 'Give a 0x-prefixed 20-byte address, e.g. `openlora rewards 0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65 --dev .openlora/dev` (a dev contributor).');
      const who: Address = getAddress(address);
      const files = o.attribution ?? (await devFromOptions(o))?.attributionReports ?? [];
      const reports = await Promise.all(files.map((f) => readAttributionReport(f)));
      const ctx = await chainContextFromOptions(o, { needsKey: false });
      const credits = await creditsOf({ ctx, address: who });
      const contributor: AdapterRewards[] = reports.length ? await rewardsOf({ ctx, address: who, reports }) : [];
      if (o.json) {
        process.stdout.write(JSON.stringify({ ...credits, contributor }, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
        return;
      }
      const fmt = (v: bigint) => formatUnits(v, 18);
      const lines = [
        `Rewards of ${who}:`,
        `  PaymentChannels credit (node operator, adapter owner and treasury shares)  ${fmt(credits.paymentChannels)}  (claim --credits)`,
        `  NodeRegistry credit (prover rewards)  ${fmt(credits.nodeRegistry)}  (claim --credits)`,
      ];
      if (credits.adapters.length) lines.push('  earned per adapter (settled lanes, at the current split):');
      for (const a of credits.adapters) {
        const parts = [];
        if (a.settledAsNode > 0n) parts.push(`as node ${fmt(a.nodeShare)} of ${fmt(a.settledAsNode)} settled`);
        if (a.owner) parts.push(`as owner ${fmt(a.ownerShare)} of ${fmt(a.settledAsOwner)} settled (royalty ${a.royaltyBps / 100}%, ${a.contributorBps / 100}% of it to contributors)`);
        lines.push(`    ${a.adapterId}  ${parts.join('; ')}`);
      }
      if (contributor.length) lines.push('  contributor rewards per adapter (claim --attribution):');
      for (const r of contributor) {
        lines.push(`    ${r.adapterId}  weight ${r.weight}/${r.totalWeight} (${(r.share * 100).toFixed(2)}%)  accrued ${fmt(r.accrued)}  claimed ${fmt(r.claimed)}  claimable ${fmt(r.claimable)}${r.rootOnChain ? '' : '  [report root not on-chain]'}`);
      }
      process.stdout.write(lines.join('\n') + '\n');
    });
}
