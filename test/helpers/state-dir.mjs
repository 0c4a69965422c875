// Loaded into every test process by test/run.mjs (--import): the proxies a test file runs keep
// their state (the registrar's registrations file) in a folder of that process's own, under
// test/.tmp, never in the working directory's switchyard-state shared by every run.
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const tmp = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '.tmp');
mkdirSync(tmp, { recursive: true });
process.env.SWITCHYARD_STATE_DIR = mkdtempSync(path.join(tmp, 'state-'));
