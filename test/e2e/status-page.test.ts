/**
 * The live status page in a real browser: headless Chromium (Debian's `chromium`, driven by
 * puppeteer-core) loads it from the admin listener, sees a plain call appear with its media
 * (and the relay thread carrying it) and disappear when it ends, and a refused reload listed
 * with its file:line; a screenshot of it is kept in test/.artifacts/ (docs/status-page.png is one).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import puppeteer, { type Browser } from 'puppeteer-core';
import { adminPort } from '../helpers/admin.ts';
import { freeRange } from '../helpers/ports.ts';
import { establishCall, PlainUser } from '../helpers/plain-client.ts';
import { defaultLikeScript, ProxyProcess, REPO, writeScript } from '../helpers/proxy-process.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO, 'test', '.artifacts');

describe('status page in headless Chromium', () => {
  let proxy: ProxyProcess;
  let browser: Browser;
  let admin: number;
  let plain: number;
  let script: string;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (apt-get install -y chromium)`);
    script = writeScript('status-page', defaultLikeScript({ port: 0, ports: await freeRange(100) }));
    proxy = await ProxyProcess.start({ configFile: script, args: ['--admin', '127.0.0.1:0', '--no-warm-up', '--no-watch'] });
    admin = await adminPort(proxy);
    plain = (await proxy.waitForLog((l) => l.msg === 'listening' && l.dialect === 'plain')).port as number;
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });
  after(async () => {
    await browser?.close();
    await proxy?.stop();
  });

  test('a call appears with its media, then ends', async () => {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const failures: string[] = [];
    page.on('pageerror', (e) => failures.push(String(e)));
    await page.goto(`http://127.0.0.1:${admin}/`);
    await page.waitForSelector('#conn.live', { timeout: 10_000 });
    assert.match(await page.$eval('#calls tbody', (e) => e.textContent ?? ''), /no calls/);

    // A reload applied, then one refused: the page lists both, the refused one with its file:line.
    const source = readFileSync(script, 'utf8');
    const reload = async (): Promise<number> => (await fetch(`http://127.0.0.1:${admin}/api/reload`, { method: 'POST', headers: { 'content-type': 'application/json' } })).status;
    assert.equal(await reload(), 200);
    writeFileSync(script, source.replace('answerTimeoutSec: 30', "answerTimeoutSec: 'soon'"));
    assert.equal(await reload(), 422);
    writeFileSync(script, source);
    const line = source.split('\n').findIndex((l) => l.includes('answerTimeoutSec')) + 1;
    await page.waitForFunction(`document.querySelectorAll('#reloads tbody tr').length === 2`, { timeout: 10_000 });
    const reloads = await page.$$eval('#reloads tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    assert.match(reloads[0]!, new RegExp(`refused.*${path.basename(script).replace('.', '\\.')}:${line}.*answerTimeoutSec`, 's'));
    assert.match(reloads[1]!, /applied/);

    const alice = await PlainUser.register('alice', plain);
    const bob = await PlainUser.register('bob', plain);
    try {
      await page.waitForSelector('#registrations tr[data-user="bob"]', { timeout: 10_000 });
      const shownAt = await page.$eval('#registrations tr[data-user="bob"]', (e) => e.textContent ?? '');
      assert.ok(shownAt.includes(`127.0.0.1:${bob.peer.port}`) && !shownAt.includes('ffff'), `an IPv4 party shown as IPv4: ${shownAt}`);
      const media = await establishCall(alice, bob);
      const row = await page.waitForSelector('#calls tr[data-call-id]', { timeout: 10_000 });
      assert.ok(row);
      // A media stream both ways, 50 packets a second each, as phones send it, while the page is watched.
      const payload = Buffer.alloc(160, 1);
      const stream = setInterval(() => {
        void alice.media(media, payload);
        void bob.media(media, payload);
      }, 20);
      let shown: string;
      try {
        // Page-side expressions, evaluated in the browser.
        await page.waitForFunction(String.raw`/[1-9][\d.]* kbit\/s.*[1-9][\d.]* kbit\/s/s.test(document.querySelector('#calls tr[data-call-id]')?.textContent ?? '')`, { timeout: 10_000 });
        await page.waitForFunction(`Number(document.querySelector('#packets-chart').dataset.last ?? 0) > 0`, { timeout: 10_000 });
        shown = await page.$eval('#calls tr[data-call-id]', (e) => e.textContent ?? '');
      } finally {
        clearInterval(stream);
      }
      assert.match(shown, /alice.*bob.*plain.*confirmed/);
      assert.match(shown, new RegExp(String(media)));
      await page.waitForFunction(String.raw`Number(document.querySelector('#relay').textContent.match(/sessions(\d+)/)?.[1]) === 1`, { timeout: 5000 });
      if (await page.$eval('#relay-threads', (e) => !e.hasAttribute('hidden'))) {
        // The native engine: the thread holding the call's port shows it and the datagrams it forwards.
        const busy = await page.$$eval('#relay-threads tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent ?? '')).find((cells) => cells[1] === '1'));
        assert.ok(busy !== undefined && /^sy-media-\d+$/.test(busy[0]!), JSON.stringify(busy));
      }

      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = path.join(ARTIFACTS, 'status-page.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 10_000, 'a screenshot with something on it');

      await bob.peer.drain(100); // the stream's last packets
      await alice.send('BYE FROM:alice TO:bob\n');
      assert.equal(await bob.next(), 'BYE FROM:alice TO:bob\n');
      await page.waitForFunction(`document.querySelector('#calls tr[data-call-id]') === null`, { timeout: 10_000 });
      assert.match(await page.$eval('#calls tbody', (e) => e.textContent ?? ''), /no calls/);
      assert.deepEqual(failures, [], 'no script error on the page');
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});
