// Part of `npm run lint`: the house limits the formatter cannot enforce. No line over 120 characters in the
// project's code (the formatter leaves long strings and comments alone), and no source file over 300 lines.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const MAX_LINE = 120;
const MAX_SOURCE_LINES = 300;
const ROOTS = ['src', 'test', 'bench', 'scripts'];
const SKIP = new Set(['node_modules', 'peers', 'dist']);
const CODE = /\.(ts|mjs|js)$/;

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (CODE.test(entry.name)) yield path;
  }
}

const problems = [];
for (const root of ROOTS) {
  for (const path of files(root)) {
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (line.length > MAX_LINE) problems.push(`${path}:${i + 1}: ${line.length} characters (at most ${MAX_LINE})`);
    });
    const count = lines.at(-1) === '' ? lines.length - 1 : lines.length;
    if (root === 'src' && count > MAX_SOURCE_LINES)
      problems.push(`${path}: ${count} lines (a source file has at most ${MAX_SOURCE_LINES})`);
  }
}
if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n${problems.length} problem(s)\n`);
  process.exit(1);
}
