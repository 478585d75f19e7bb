/**
 * Entry point of the single binary (`npm run build:binary`): the same CLI as `bin/openlora.js`,
 * bundled to one CommonJS script (what Node's single executable applications run).
 */
import { main } from '../cli/main.ts';

void main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
