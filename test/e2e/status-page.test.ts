/**
 * The live status page in a real browser: headless Chromium (Debian's `chromium`, driven by
 * puppeteer-core) loads it from the admin listener, sees a plain call appear with its media
 * and disappear when it ends, and a screenshot of it is kept in test/.artifacts/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import puppeteer, { type Browser } from 'puppeteer-core';
import { adminPort } from '../helpers/admin.ts';
import { establishCall, PlainUser } from '../helpers/plain-client.ts';
import { defaultLikeScript, ProxyProcess, REPO, writeScript } from '../helpers/proxy-process.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO, 'test', '.artifacts');

describe('status page in headless Chromium', () => {
  let proxy: ProxyProcess;
  let browser: Browser;
  let admin: number;
  let plain: number;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (apt-get install -y chromium)`);
    proxy = await ProxyProcess.start({ configFile: writeScript('status-page', defaultLikeScript({ port: 0, ports: '42500-42599' })), args: ['--admin', '127.0.0.1:0', '--no-warm-up'] });
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

    const alice = await PlainUser.register('alice', plain);
    const bob = await PlainUser.register('bob', plain);
    try {
      await page.waitForSelector('#registrations tr[data-user="bob"]', { timeout: 10_000 });
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
