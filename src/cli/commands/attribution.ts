import { BACKEND_CHOICES, type BackendChoice } from '../../engine/chooseBackend.ts';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isHex, type Hex } from 'viem';
import { computeAttribution } from '../../attribution/compute.ts';
import { createProgressLine } from '../../attribution/progress.ts';
import { publishAttribution } from '../../attribution/publish.ts';
import type { AttributionReport } from '../../attribution/report.ts';
import { readAttributionReport, writeAttributionReport } from '../../attribution/reportFile.ts';
import { DEFAULT_ABSOLUTE_TOLERANCE_UNITS, DEFAULT_RELATIVE_TOLERANCE, unitsToNats } from '../../attribution/units.ts';
import { verifyAttribution } from '../../attribution/verify.ts';
import type { ChainContext } from '../../chain/context.ts';
import { addChainOptions, chainContextFromOptions, type ChainOptions } from '../chainOptions.ts';

const list = (value: string, previous: string[] = []) => [...previous, ...value.split(',').filter(Boolean)];
const bytes32 = (value: string): Hex => {
  if (!isHex(value) || value.length !== 66) throw new InvalidArgumentError(`"${value}" is not a 0x-prefixed bytes32.`);
  return value;
};
const json = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n';

interface ComputeOptions extends ChainOptions {
  model: string;
  adapter: string;
  datanet: string[];
  adapterId?: Hex;
  backend: BackendChoice;
  chain?: boolean;
  maxContext?: string;
}

function summary(report: AttributionReport): string {
  const rows = report.contributors.map((c) => `  ${c.contributor}  ${unitsToNats(BigInt(c.weight)).toFixed(6).padStart(14)} nats  ${(c.share * 100).toFixed(2).padStart(6)}%  (base ${c.lossBase.toFixed(3)}, adapter ${c.lossAdapter.toFixed(3)})`);
  return [`Adapter ${report.adapterId}: ${report.contributions.length} contributions, total weight ${report.totalWeight} (micro-nats), root ${report.root ?? '(none: all weights are 0)'}`, ...rows].join('\n');
}

function withCompute(command: Command): Command {
  return addChainOptions(command
    .requiredOption('--model <dir>', 'base model directory')
    .requiredOption('--adapter <dir>', 'adapter directory (PEFT layout)')
    .requiredOption('--datanet <dirs>', 'Datanet directories, comma-separated (repeatable)', list)
    .addOption(new Option('--backend <kind>', 'engine backend (cpu: the WebAssembly CPU backend; reference: the plain TypeScript oracle)').choices([...BACKEND_CHOICES]).default('cpu'))
    .option('--max-context <n>', 'longest scored window, tokens (default min(model context, 2048))')
    .option('--chain', 'check Datanets and the registered adapter against the chain (--rpc, --deployment)'));
}

/** `openlora attribution compute|publish|verify`: Proof of Attribution weights, roots and checks. */
export function registerAttribution(program: Command): void {
  const attribution = new Command('attribution').description('Proof of Attribution: per-contributor weights of an adapter, published as a Merkle root');
  withCompute(attribution
    .command('compute')
    .description('score every contribution under the base model and base + adapter (one batch), write the report and attribution tree')
    .option('--adapter-id <bytes32>', 'on-chain AdapterRegistry id for the tree leaves (default: the adapter\'s content id)', bytes32)
    .option('--out <file>', 'report file (JSON with the tree)', 'attribution.json'))
    .action(async (o: ComputeOptions & { out: string }) => {
      const chain: ChainContext | undefined = o.chain ? await chainContextFromOptions(o, { needsKey: false }) : undefined;
      const report = await computeAttribution({ model: o.model, adapter: o.adapter, datanets: o.datanet, adapterId: o.adapterId, backend: o.backend, chain, maxContext: o.maxContext ? Number(o.maxContext) : undefined, onProgress: createProgressLine({ label: 'scoring' }) });
      await writeAttributionReport(o.out, report);
      process.stdout.write(`${summary(report)}\nWrote ${o.out}\n`);
    });
  addChainOptions(attribution
    .command('publish <report>')
    .description('set the adapter\'s attribution root and total weight on-chain (adapter owner\'s key)')
    .option('--json', 'print JSON'))
    .action(async (file: string, o: ChainOptions & { json?: boolean }) => {
      const report = await readAttributionReport(file);
      const ctx = await chainContextFromOptions(o, { needsKey: true, what: '`attribution publish`' });
      const r = await publishAttribution({ ctx, report });
      process.stdout.write(o.json ? json(r) : `${r.sent ? 'Published' : 'Already published:'} root ${r.root} with total weight ${r.totalWeight} for adapter ${r.adapterId}\n`);
    });
  withCompute(attribution
    .command('verify <report>')
    .description('recompute the attribution from the files and compare with the published report and on-chain root')
    .option('--tolerance-rel <x>', 'relative weight tolerance', String(DEFAULT_RELATIVE_TOLERANCE))
    .option('--tolerance-abs <units>', 'absolute weight tolerance, micro-nats', String(DEFAULT_ABSOLUTE_TOLERANCE_UNITS))
    .option('--json', 'print JSON'))
    .action(async (file: string, o: ComputeOptions & { toleranceRel: string; toleranceAbs: string; json?: boolean }) => {
      const published = await readAttributionReport(file);
      const chain = o.chain ? await chainContextFromOptions(o, { needsKey: false }) : undefined;
      const r = await verifyAttribution({ published, model: o.model, adapter: o.adapter, datanets: o.datanet, backend: o.backend, chain, maxContext: o.maxContext ? Number(o.maxContext) : undefined, tolerance: { relative: Number(o.toleranceRel), absoluteUnits: BigInt(o.toleranceAbs) }, onProgress: createProgressLine({ label: 'verifying' }) });
      if (o.json) {
        process.stdout.write(json({ ...r, recomputed: undefined, fileProblems: r.fileProblems.map((x) => ({ contributor: x.contributor, file: x.file, message: x.error.shortMessage })) }));
      } else {
        const lines = [r.ok ? `OK: ${r.exact ? 'the recomputed root is the published root' : 'every weight agrees within tolerance'} (${r.publishedRoot})` : 'FAILED'];
        if (r.rootMismatch) lines.push(`  the report's root ${r.publishedRoot} is not the on-chain root ${r.onChainRoot ?? '(none)'}`);
        for (const x of r.fileProblems) lines.push(`  contributor ${x.contributor}: ${x.error.shortMessage}`);
        for (const d of r.differences) lines.push(`  contributor ${d.contributor}: published weight ${d.published}, recomputed ${d.recomputed}`);
        process.stdout.write(lines.join('\n') + '\n');
      }
      if (!r.ok) process.exitCode = 1;
    });
  program.addCommand(attribution);
}
