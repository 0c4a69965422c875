#!/usr/bin/env node
// Runs the TypeScript sources directly: jiti transpiles them once and caches the result.
import { createJiti } from 'jiti';

// interopDefault off: imported bindings are read straight off the exports object, not through a Proxy.
const jiti = createJiti(import.meta.url, { interopDefault: false });
const { main } = await jiti.import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
