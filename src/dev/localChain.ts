import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DevChainError } from './errors.ts';

/** A Hardhat JSON-RPC chain in a child process, bound to 127.0.0.1 only. */
export interface LocalChain {
  readonly rpcUrl: string;
  readonly process: ChildProcess;
  /** Stops the chain; resolves when the process has exited. */
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts `hardhat node --hostname 127.0.0.1` (Hardhat binds every interface otherwise) from the
 * project root, where `hardhat.config.ts` lives; resolves once it serves JSON-RPC.
 */
export async function startLocalChain(p: { port: number; timeoutMs?: number; signal?: AbortSignal }): Promise<LocalChain> {
  const cli = join(dirname(createRequire(import.meta.url).resolve('hardhat/package.json')), 'dist/src/cli.js');
  const child = spawn(process.execPath, [cli, 'node', '--hostname', '127.0.0.1', '--port', String(p.port)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new DevChainError(`no answer within ${(p.timeoutMs ?? 60_000) / 1000} s`, output));
    }, p.timeoutMs ?? 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Started HTTP')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new DevChainError(`hardhat node exited with code ${code}`, output));
    });
  });
  child.stdout!.removeAllListeners('data');
  child.stdout!.resume(); // keep draining its log so it never blocks
  return {
    rpcUrl: `http://127.0.0.1:${p.port}`,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
