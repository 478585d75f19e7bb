import type { Command } from 'commander';
import { formatUnits } from 'viem';
import { readAttributionReport } from '../../attribution/reportFile.ts';
import { claimRewards } from '../../attribution/rewards.ts';
import { withdrawCredits, type CreditWithdrawal } from '../../payments/credits.ts';
import { addChainOptions, chainContextFromOptions, devFromOptions, type ChainOptions } from '../chainOptions.ts';
import { CliUsageError } from '../errors.ts';

const list = (value: string, previous: string[] = []) => [...previous, ...value.split(',').filter(Boolean)];

/**
 * `openlora claim`: with `--attribution`, the signer's contributor rewards on every adapter of the
 * reports in one transaction; with `--credits`, its PaymentChannels and NodeRegistry credits (one
 * `withdrawCredit` each, only where non-zero).
 */
export function registerClaim(program: Command): void {
  addChainOptions(program
    .command('claim')
    .description('claim the signer\'s rewards: --attribution (contributor rewards, one transaction, proofs from the published trees) and/or --credits (node operator, adapter owner and prover credits)')
    .option('--attribution <files>', 'published attribution reports, comma-separated (repeatable); default with --dev and without --credits: the dev adapters\' reports', list)
    .option('--credits', 'withdraw PaymentChannels and NodeRegistry credits')
    .option('--json', 'print JSON'))
    .action(async (o: ChainOptions & { attribution?: string[]; credits?: boolean; json?: boolean }) => {
      const dev = await devFromOptions(o);
      if (!o.attribution && !o.credits && dev) o.attribution = dev.attributionReports;
      if (!o.attribution && !o.credits) throw new CliUsageError('Nothing to claim: pass --attribution FILES (contributor rewards) and/or --credits (node, owner and prover credits).', 'openlora claim', 'See `openlora claim --help`; while openlora dev runs, `openlora claim --dev .openlora/dev --key-file .openlora/dev/keys/contributor-1.json` claims a dev contributor\'s rewards.');
      const reports = await Promise.all((o.attribution ?? []).map((f) => readAttributionReport(f)));
      const ctx = await chainContextFromOptions(o, { needsKey: true, what: '`claim`' });
      const fmt = (v: bigint) => formatUnits(v, 18);
      // With --attribution too, no credit is not an error: the attribution claim still runs (and says when it finds nothing).
      const credits: CreditWithdrawal[] | undefined = o.credits ? await withdrawCredits({ ctx, requireSome: !o.attribution }) : undefined;
      const attribution = reports.length ? await claimRewards({ ctx, reports }) : undefined;
      if (o.json) {
        const a = attribution && { ...attribution, amount: attribution.amount.toString() };
        const out = credits ? { credits: credits.map((c) => ({ ...c, amount: c.amount.toString() })), ...(a ? { attribution: a } : {}) } : a;
        process.stdout.write(JSON.stringify(out) + '\n');
        return;
      }
      const lines: string[] = [];
      if (credits) {
        for (const c of credits) lines.push(`Withdrew ${fmt(c.amount)} tokens of ${c.contract} credit in ${c.txHash}`);
        if (credits.length === 0) lines.push('No PaymentChannels or NodeRegistry credit to withdraw.');
      }
      if (attribution) lines.push(`Claimed ${fmt(attribution.amount)} tokens from ${attribution.adapterIds.length} adapter(s) in ${attribution.txHash}`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
