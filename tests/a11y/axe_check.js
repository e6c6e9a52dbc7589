#!/usr/bin/env node
// WCAG 2.2 AA scan of local HTML files with axe-core, in headless system Chromium (playwright-core).
//
// Usage:  node axe_check.js FILE.html [FILE2.html ...] [--json OUT.json] [--screenshot-dir DIR]
// Prints one line per file and every violation; exit 0 = no violations and no external requests,
// 1 = violations or external requests (a standalone document must load nothing), 2 = could not run.
//
// Setup (once):  apt-get install -y chromium ;  npm install   (in this folder; no browser download:
// playwright-core drives /usr/bin/chromium, or $CHROMIUM_PATH).
'use strict';
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const { chromium } = require('playwright-core');
const axe = require('axe-core');

const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

function parseArgs(argv) {
  const a = { files: [], json: null, screenshotDir: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') a.json = argv[++i];
    else if (argv[i] === '--screenshot-dir') a.screenshotDir = argv[++i];
    else a.files.push(argv[i]);
  }
  if (!a.files.length) throw new Error('usage: node axe_check.js FILE.html [...] [--json OUT] [--screenshot-dir DIR]');
  return a;
}

async function scan(context, file, screenshotDir) {
  const external = [];
  const page = await context.newPage();
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith('data:') || u === pathToFileURL(path.resolve(file)).href) return route.continue();
    external.push(u);
    return route.abort('blockedbyclient');
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(pathToFileURL(path.resolve(file)).href, { waitUntil: 'load', timeout: 30000 });
  await page.evaluate(axe.source);
  const r = await page.evaluate((tags) => window.axe.run(document, {
    runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }), TAGS);
  if (screenshotDir) {
    await page.screenshot({ path: path.join(screenshotDir, path.basename(file) + '.png'), fullPage: true });
  }
  await page.close();
  return {
    file, axe: r.testEngine.version, passes: r.passes.length, external, errors,
    violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })) })),
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--no-first-run', '--disable-sync'],
    timeout: 60000,
  });
  const results = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
    for (const f of args.files) results.push(await scan(context, f, args.screenshotDir));
  } finally {
    await browser.close();
  }
  let bad = 0;
  for (const r of results) {
    const n = r.violations.length + r.external.length;
    bad += n;
    console.log(`${n ? 'FAIL' : 'ok  '} ${r.file}: ${r.violations.length} violations, ${r.passes} rules passed, ` +
                `${r.external.length} external requests (axe-core ${r.axe})`);
    for (const v of r.violations) {
      console.log(`  - [${v.impact}] ${v.id}: ${v.help}`);
      for (const n of v.nodes.slice(0, 5)) console.log(`      at ${n.target}: ${n.summary.replace(/\s+/g, ' ')}`);
    }
    for (const u of r.external) console.log(`  - external request blocked: ${u}`);
  }
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(results, null, 2));
  return bad ? 1 : 0;
}

main().then((code) => process.exit(code), (err) => { console.error(String(err && err.stack || err)); process.exit(2); });
