import { Command } from 'commander';
import { addConfigOptions, configFromOptions, type ConfigOptions } from '../options.ts';

type DoctorOptions = ConfigOptions & { json?: boolean; rpc?: string; offline?: boolean };

/** `openlora doctor`: what this machine has, what is missing, and how to fix it. */
export function registerDoctor(program: Command): void {
  const command = new Command('doctor')
    .description('check Node.js, the WebGPU adapter, memory, disk and the chain RPC; exit 1 if the node cannot run')
    .option('--json', 'print the report as one JSON object')
    .option('--rpc <url>', 'chain RPC to check (default: chain.rpcUrl)')
    .option('--offline', 'skip the chain RPC check')
    .action(async (options: DoctorOptions) => {
      const config = await configFromOptions(options, { rpc: 'chain.rpcUrl' });
      const { runDoctor } = await import('../../doctor/report.ts');
      const { formatDoctorReport } = await import('../../doctor/format.ts');
      const report = await runDoctor({ config, skipChain: options.offline });
      process.stdout.write(options.json ? JSON.stringify(report, null, 2) + '\n' : formatDoctorReport(report));
      process.exitCode = report.ok ? 0 : 1;
    });
  program.addCommand(addConfigOptions(command));
}
