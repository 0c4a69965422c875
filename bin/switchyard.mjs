#!/usr/bin/env node
// Runs the TypeScript sources directly: jiti transpiles them once and caches the result.
import { createJiti } from 'jiti';

const jiti = createJiti(import.meta.url);
const { main } = await jiti.import('../core/cli.ts');
process.exitCode = await main(process.argv.slice(2));
