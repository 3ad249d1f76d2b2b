#!/usr/bin/env node
// Makes a copy of a built app whose wasm-bindgen glue counts how often the WebAssembly calls each browser
// function (each import) once the mesh benchmark has stamped the join (`window.__joinedAt`), for
// `tests/bench/mesh.mjs` with MESH_TRACE=1 (the "imports per page" rows of its step table). A benchmark
// aid only: the counting wrapper costs time of its own, so never time the copy.
//
//   node scripts/count-imports.mjs DIST OUT
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dist, out] = process.argv.slice(2);
if (!dist || !out) {
  console.error('usage: node scripts/count-imports.mjs DIST OUT');
  process.exit(2);
}
rmSync(out, { recursive: true, force: true });
cpSync(dist, out, { recursive: true });
const glue = readdirSync(out).find((f) => /^peerlab-[0-9a-f]+\.js$/.test(f));
if (!glue) throw new Error(`no peerlab-*.js in ${dist}`);
const anchor = 'const imports = __wbg_get_imports();';
let js = readFileSync(join(out, glue), 'utf8');
if (!js.includes(anchor)) throw new Error(`the glue has no "${anchor}"; wasm-bindgen changed its output`);
const wrap = `${anchor}
    {
        const counts = (globalThis.__wbgCounts = new Map());
        for (const module of Object.values(imports)) {
            for (const key of Object.keys(module)) {
                const f = module[key];
                if (typeof f !== 'function') continue;
                const name = key.replace(/^__wbg_/, '').replace(/_[0-9a-f]{16}$/, '');
                module[key] = function (...args) {
                    if (globalThis.__joinedAt) counts.set(name, (counts.get(name) ?? 0) + 1);
                    return f.apply(this, args);
                };
            }
        }
    }`;
js = js.split(anchor).join(wrap);
writeFileSync(join(out, glue), js);
// The copy's glue no longer matches the integrity hashes trunk wrote.
const index = join(out, 'index.html');
writeFileSync(index, readFileSync(index, 'utf8').replace(/ integrity="[^"]*"/g, ''));
console.log(`${out}: ${glue} counts its imports`);
