import type { DoctorReport } from './report.ts';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/** The human-readable `doctor` output. */
export function formatDoctorReport(report: DoctorReport): string {
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`  ${label.padEnd(22)} ${value}`);
  lines.push('openlora doctor');
  row('Node.js', `${report.node.version} (${report.node.platform}-${report.node.arch})`);
  if (report.webgpu.available && report.webgpu.adapter) {
    const a = report.webgpu.adapter;
    row('WebGPU adapter', `${a.vendor} ${a.architecture} ${a.device}`.trim());
    row('  driver', a.description);
    row('  kind', a.software ? 'software (CPU)' : 'hardware');
    const wanted = ['shader-f16', 'subgroups', 'timestamp-query'];
    row('  features', wanted.map((f) => `${f} ${report.webgpu.features.includes(f) ? 'yes' : 'no'}`).join(', '));
    const l = report.webgpu.limits;
    row('  max binding', `${(l.maxStorageBufferBindingSize / MIB).toFixed(0)} MiB storage, buffer ${(l.maxBufferSize / MIB).toFixed(0)} MiB`);
    row('  workgroup', `${l.maxComputeInvocationsPerWorkgroup} invocations, ${l.maxComputeWorkgroupStorageSize / 1024} KiB shared`);
  } else {
    row('WebGPU adapter', 'none found');
  }
  row('Engine backend', `${report.backend.kind}${report.backend.kind === 'cpu' ? ` (${report.backend.cpuThreads} threads)` : ''}: ${report.backend.reason}`);
  row('CPUs / memory', `${report.system.cpus} / ${(report.system.memory.totalBytes / GIB).toFixed(1)} GiB (${(report.system.memory.freeBytes / GIB).toFixed(1)} free)`);
  row('Disk free', report.system.disk.freeBytes === null ? 'unknown' : `${(report.system.disk.freeBytes / GIB).toFixed(1)} GiB at ${report.system.disk.path}`);
  row('Chain RPC', report.chain.reachable ? `${report.chain.rpcUrl} chainId ${report.chain.chainId}, block ${report.chain.blockNumber}` : `${report.chain.rpcUrl} unreachable`);
  lines.push('');
  if (report.problems.length === 0) lines.push('No problems found.');
  for (const p of report.problems) {
    lines.push(`${p.severity === 'error' ? 'ERROR' : 'warning'} [${p.code}] ${p.message}`);
    lines.push(`  fix: ${p.hint}`);
  }
  lines.push(report.ok ? 'The node can run.' : 'The node cannot run until the errors above are fixed.');
  return lines.join('\n') + '\n';
}
