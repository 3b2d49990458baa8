// The example page (examples/web/) in headless Chromium: the README's two examples, the same flags as Python
// (test/reference.jsonl). Skips, saying why, when /usr/bin/chromium is absent (js/ci.sh installs it).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';
import assert from 'node:assert/strict';
import { serve } from '../examples/web/serve.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const reference = new Map(readFileSync(new URL('reference.jsonl', import.meta.url), 'utf8').split('\n')
  .filter(Boolean).map((l) => JSON.parse(l)).map((r) => [r.name, r]));
const cases = new Map(readFileSync(new URL('cases.jsonl', import.meta.url), 'utf8').split('\n')
  .filter(Boolean).map((l) => JSON.parse(l)).map((c) => [c.name, c]));
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found: apt-get install -y chromium (js/ci.sh does)`;

test('the web page classifies the README examples as Python does (headless Chromium, WASM)', { skip, timeout: 180_000 },
  async () => {
    const { chromium } = await import('playwright-core');
    const server = await serve(0);
    const profile = mkdtempSync(path.join(tmpdir(), 'lec-onnx-chromium-'));
    let browser = null;
    try {
      // a fresh profile: playwright passes it as --user-data-dir
      browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true,
        timeout: 60_000, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
          '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
      const page = await browser.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${server.address().port}/js/examples/web/`);
      await page.waitForFunction(() => window.lec, null, { timeout: 120_000 });
      assert.equal(await page.evaluate(() => window.lec.error ?? null), null, errors.join('\n'));
      for (const name of ['readme-bomb', 'readme-injection']) {
        const c = cases.get(name);
        // through the page's own form: type, click, read the table
        await page.fill('#text', c.text);
        await page.fill('#system', c.system ?? '');
        await page.click('#run');
        await page.waitForFunction(() => !document.querySelector('#record').hidden &&
          !document.querySelector('#run').disabled);
        const record = JSON.parse(await page.textContent('#record'));
        await page.evaluate(() => { document.querySelector('#record').hidden = true; });
        const py = reference.get(name).record;
        for (const task of Object.keys(py).filter((k) => typeof py[k] === 'object')) {
          assert.equal(record[task].flagged, py[task].flagged, `${name}: ${task}.flagged`);
          assert.equal(record[task].label, py[task].label, `${name}: ${task}.label`);
        }
        assert.equal(record.flagged, py.flagged);
        const diff = Math.max(...Object.keys(py).filter((k) => typeof py[k] === 'object')
          .map((t) => Math.abs(record[t].score - py[t].score)));
        console.log(`# browser (onnxruntime-web WASM) ${name}: flags as Python; max |score diff| ${diff.toFixed(6)}`);
      }
      const flaggedTasks = await page.$$eval('#result tbody tr.flagged td:first-child', (tds) => tds.map((t) => t.textContent));
      assert.deepEqual(flaggedTasks, ['prompt_injection']);
    } finally {
      await browser?.close();
      server.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
