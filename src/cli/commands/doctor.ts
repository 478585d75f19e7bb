import { Command } from 'commander';
import { formatDoctorReport } from '../../doctor/format.ts';
import { runDoctor } from '../../doctor/report.ts';
import { addConfigOptions, configFromOptions, type ConfigOptions } from '../options.ts';

/** `openlora doctor`: what this machine has, what is missing, and how to fix it. */
export function registerDoctor(program: Command): void {
  const command = new Command('doctor')
    .description('check Node.js, the WebGPU adapter, memory, disk and the chain RPC; exit 1 if the node cannot run')
    .option('--json', 'print the report as one JSON object')
    .option('--rpc <url>', 'chain RPC to check (default: chain.rpcUrl)')
    .option('--offline', 'skip the chain RPC check')
    .action(async (options: ConfigOptions & { json?: boolean; rpc?: string; offline?: boolean }) => {
      const config = configFromOptions(options, { 'chain.rpcUrl': options.rpc });
      const report = await runDoctor({ config, skipChain: options.offline });
      process.stdout.write(options.json ? JSON.stringify(report, null, 2) + '\n' : formatDoctorReport(report));
      process.exitCode = report.ok ? 0 : 1;
    });
  program.addCommand(addConfigOptions(command));
}
