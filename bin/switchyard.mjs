#!/usr/bin/env -S node --min-semi-space-size=16
// --min-semi-space-size=16 (as `npm start` runs it): the young generation starts at its full
// 16 MB instead of growing from 1 MB under the first seconds of load, when a cold proxy would
// otherwise collect garbage so often that it answers late enough for peers to retransmit.
// Runs the TypeScript sources directly: jiti transpiles them once and caches the result.
import { createJiti } from 'jiti';

const jiti = createJiti(import.meta.url);
const { main } = await jiti.import('../core/cli.ts');
process.exitCode = await main(process.argv.slice(2));
