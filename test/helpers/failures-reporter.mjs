// A test reporter that lists the failed tests once more when the run ends: a long report read
// from its end (a CI log) shows which tests failed and why without the rest of it.
import path from 'node:path';

const MAX_LISTED = 40;
const MAX_MESSAGE = 400;

/** The first lines of why a test failed. */
function reason(error) {
  const cause = error?.cause ?? error;
  const text = String(cause?.message ?? cause ?? 'failed');
  return text.split('\n').filter((l) => l.trim() !== '').slice(0, 4).join(' | ').slice(0, MAX_MESSAGE);
}

export default async function* failures(source) {
  const failed = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, details } = event.data;
    // A suite fails when one of its tests does: that test is listed already.
    if (details?.error?.failureType === 'subtestsFailed') continue;
    failed.push(`#   ${file ? path.relative(process.cwd(), file) + ': ' : ''}${name}: ${reason(details?.error)}`);
  }
  if (failed.length === 0) return;
  const shown = failed.slice(0, MAX_LISTED);
  if (failed.length > shown.length) shown.push(`#   ... and ${failed.length - shown.length} more`);
  yield `# failed tests (${failed.length}):\n${shown.join('\n')}\n`;
}
