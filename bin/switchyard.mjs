#!/usr/bin/env node
// The command line, from the compiled product in dist/ (npm install, npm start and npm test build it).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('switchyard: dist/ is not built (in the repository: npm run build)\n');
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Log lines a reader has not taken must not keep the process from exiting: 2 s for it, then exit.
if (process.stdout.writableLength > 0) setTimeout(() => process.exit(code), 2000).unref();
