import { describe, expect, it } from 'vitest';
import { runCli } from '../fixtures/cli.ts';
import { formatDoctorReport } from '../../src/doctor/format.ts';
import { runDoctor } from '../../src/doctor/report.ts';
import { loadConfig } from '../../src/config/load.ts';

describe('openlora doctor', () => {
  it('--json reports the adapter, features and limits, with the stable shape, and exits 0', async () => {
    const result = await runCli(['doctor', '--json', '--offline']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(Object.keys(report)).toEqual(expect.arrayContaining(['ok', 'node', 'webgpu', 'system', 'chain', 'problems']));
    expect(report.ok).toBe(true);
    expect(report.node.major).toBeGreaterThanOrEqual(22);
    expect(report.webgpu.available).toBe(true);
    expect(report.webgpu.adapter).toMatchObject({ vendor: expect.any(String), architecture: expect.any(String), software: expect.any(Boolean) });
    expect(report.webgpu.features).toEqual(expect.arrayContaining(['shader-f16', 'subgroups', 'timestamp-query']));
    expect(report.webgpu.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(report.problems.every((p: { severity: string }) => p.severity === 'warning')).toBe(true);
  });

  it('without a Vulkan driver: the CPU backend runs (a warning); forcing WebGPU is an error, exit 1', async () => {
    const env = { VK_ICD_FILENAMES: '', VK_DRIVER_FILES: '' };
    const result = await runCli(['doctor', '--json', '--offline'], { env });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(true);
    expect(report.webgpu).toEqual({ available: false, adapter: null, features: [], limits: {} });
    expect(report.backend).toMatchObject({ choice: 'auto', kind: 'cpu', reason: expect.stringContaining('no WebGPU adapter') });
    const problem = report.problems.find((p: { code: string }) => p.code === 'OPENLORA_DOCTOR_NO_WEBGPU_ADAPTER');
    expect(problem).toMatchObject({ severity: 'warning' });
    expect(problem.hint).toContain('npm run setup');

    const forced = await runCli(['doctor', '--offline', '--set', 'model.backend=webgpu'], { env });
    expect(forced.code).toBe(1);
    expect(forced.stdout).toContain('ERROR [OPENLORA_DOCTOR_NO_WEBGPU_ADAPTER]');
    expect(forced.stdout).toContain('Engine backend         webgpu: --backend webgpu (model.backend) forces it');
    expect(forced.stdout).toContain('The node cannot run');
  });

  it('warns, naming the URL, when the chain RPC is unreachable', async () => {
    const config = loadConfig({ env: {}, overrides: { 'chain.rpcUrl': 'http://127.0.0.1:9', 'chain.rpcTimeoutMs': 500 } });
    const report = await runDoctor({ config });
    expect(report.chain).toMatchObject({ rpcUrl: 'http://127.0.0.1:9', reachable: false, chainId: null });
    const problem = report.problems.find((p) => p.code === 'OPENLORA_DOCTOR_RPC_UNREACHABLE');
    expect(problem?.severity).toBe('warning');
    expect(problem?.message).toContain('http://127.0.0.1:9');
    expect(formatDoctorReport(report)).toContain('http://127.0.0.1:9 unreachable');
  });
});
