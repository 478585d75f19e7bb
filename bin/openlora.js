#!/usr/bin/env node
// Entry point of the `openlora` binary. The CLI is TypeScript run by Node's type stripping
// (Node >= 22.18): no build step, and the CLI starts in a fraction of a second.
import { main } from '../src/cli/main.ts';

process.exitCode = await main(process.argv);
