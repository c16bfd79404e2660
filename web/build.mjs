// The console's build: esbuild bundles src/main.js (and what it imports, npm packages
// included) and styles.css into content-hashed files, and index.html is written with
// their names. Everything lands in --outdir (the CMake build tree's web/, by default
// ../build/web), which `aragora serve` serves (ARAGORA_CONSOLE_DIR) and `make install`
// copies to share/aragora/web. Hashed names are served immutable; index.html no-cache.
//
//   node build.mjs --outdir DIR [--no-minify] [--metafile FILE]

import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opts = { outdir: path.join(here, '..', 'build', 'web'), minify: true, metafile: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--outdir') opts.outdir = path.resolve(argv[++i]);
    else if (a === '--no-minify') opts.minify = false;
    else if (a === '--metafile') opts.metafile = path.resolve(argv[++i]);
    else throw new Error(`build.mjs: unknown argument ${a}`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const assets = path.join(opts.outdir, 'assets');

// A fresh assets/ each time: stale hashed files would otherwise pile up (and be served).
await rm(assets, { recursive: true, force: true });
await mkdir(assets, { recursive: true });

const result = await build({
  absWorkingDir: here,
  entryPoints: { main: 'src/main.js', styles: 'styles.css' },
  bundle: true,
  format: 'esm',
  // Browsers of 2023 on (String.prototype.isWellFormed, used by canonicalize, included).
  target: ['es2022', 'chrome111', 'firefox119', 'safari16.4'],
  minify: opts.minify,
  sourcemap: false,
  legalComments: 'none',
  outdir: assets,
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});

// The hashed output of each entry point, relative to outdir ("assets/main-ABCD1234.js").
const outputs = {};
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  if (!meta.entryPoint) continue;
  const rel = path.relative(opts.outdir, path.resolve(here, file)).split(path.sep).join('/');
  outputs[meta.entryPoint] = rel;
}
const js = outputs['src/main.js'];
const css = outputs['styles.css'];
if (!js || !css) throw new Error(`build.mjs: missing outputs in ${JSON.stringify(outputs)}`);

// index.html: the shell with the hashed names. Relative URLs, so that the <base href> the
// server writes (ARAGORA_CONSOLE_BASE_PATH / X-Forwarded-Prefix) moves them all.
let html = await readFile(path.join(here, 'index.html'), 'utf8');
const before = html;
html = html.replace(/href="styles\.css"/, `href="${css}"`).replace(/src="main\.js"/, `src="${js}"`);
// The icon (a browser asks for /favicon.ico without one): copied under a hashed name.
const icon = await readFile(path.join(here, 'favicon.svg'));
const iconName = `assets/favicon-${createHash('sha256').update(icon).digest('hex').slice(0, 8).toUpperCase()}.svg`;
await writeFile(path.join(opts.outdir, iconName), icon);
html = html.replace(/href="favicon\.svg"/, `href="${iconName}"`);
if (html === before || html.includes('"styles.css"') || html.includes('"main.js"')) {
  throw new Error('build.mjs: index.html no longer names styles.css and main.js');
}
if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(html)) {
  throw new Error('build.mjs: index.html has an inline <script> (the CSP forbids it)');
}
await writeFile(path.join(opts.outdir, 'index.html'), html);

// What was built, for the bench and for humans.
const files = await readdir(assets);
const sizes = {};
for (const f of files) sizes[`assets/${f}`] = (await readFile(path.join(assets, f))).length;
await writeFile(
  path.join(opts.outdir, 'build-manifest.json'),
  JSON.stringify({ entry: { js, css }, sizes }, null, 2) + '\n',
);
if (opts.metafile) await writeFile(opts.metafile, JSON.stringify(result.metafile));
console.log(`console: ${js} ${css} -> ${opts.outdir}`);
