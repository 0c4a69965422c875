// Runs every scenario of the SCTP stream handover demonstration and prints a
// summary. Usage: node --import jiti/register studies/sctp-handover/main.ts [seeds]
// e.g. `… main.ts 1,2,3` runs the races with three seeds (default: 1,2).

import { runHandover } from './scenario-handover.ts';
import { runLiteralRecipe } from './scenario-literal-recipe.ts';
import { runMultistream } from './scenario-multistream.ts';
import { RACES, runRace, runResetBarrierComparison, type RaceRun } from './scenario-races.ts';
import {
  handoverChecks,
  handoverLines,
  literalRecipeSection,
  multistreamSection,
  raceSection,
  resetBarrierSection,
  type Check,
  type Section,
} from './summary.ts';

function parseSeeds(argument: string | undefined): number[] {
  const seeds = (argument ?? '1,2')
    .split(',')
    .map((part) => Number.parseInt(part, 10))
    .filter((seed) => Number.isInteger(seed) && seed > 0);
  return seeds.length > 0 ? seeds.slice(0, 10) : [1];
}

function print(title: string, section: Section): void {
  console.log(`\n${title}`);
  for (const line of section.lines) console.log(`  ${line}`);
}

async function main(): Promise<number> {
  const seeds = parseSeeds(process.argv[2]);
  const started = performance.now();
  const checks: Check[] = [];
  const record = (section: Section) => checks.push(...section.checks);

  console.log('SCTP stream handover: A–B and B–C over loopback UDP (A 127.0.0.2, B 127.0.0.3, C 127.0.0.4)');

  const multistream = multistreamSection(await runMultistream());
  print('(a) Two associations, several streams each', multistream);
  record(multistream);

  const literal = literalRecipeSection(await runLiteralRecipe());
  print('(b) The literal recipe: C\'s address in A–B', literal);
  record(literal);

  const handover = await runHandover({ seed: seeds[0] ?? 1 });
  const handoverSection: Section = { lines: handoverLines(handover), checks: handoverChecks(handover, '(c)', true) };
  print('(c) Handover of flow F from A–B–C to a direct A–C association', handoverSection);
  record(handoverSection);

  const runs: RaceRun[] = [];
  for (const seed of seeds) {
    for (const race of RACES) runs.push(await runRace(race.id, seed));
  }
  const races = raceSection(runs);
  print(`(d) Races, seeds ${seeds.join(', ')}`, races);
  record(races);

  const barrier = resetBarrierSection(await runResetBarrierComparison());
  print('(d) Resetting the old stream: with and without the END barrier', barrier);
  record(barrier);

  const failed = checks.filter((check) => !check.ok);
  console.log(`\n${checks.length - failed.length}/${checks.length} checks hold (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  for (const check of failed) console.log(`  FAILED: ${check.name}`);
  return failed.length === 0 ? 0 : 1;
}

process.exitCode = await main();
