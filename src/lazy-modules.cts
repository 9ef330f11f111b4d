/**
 * Dependencies loaded when first needed rather than when the module that uses them loads: each function
 * require()s its package on its first call. CommonJS, so that the bundler of the command line (see
 * scripts/bundle.mjs) sees plain require() calls: pg goes into the bundle and is still evaluated only on the
 * first call (pool.ts says why the moment matters), and ioredis, which the bundle leaves out, is loaded from
 * node_modules only with ELECTION_BACKEND=redis (an import of it would be hoisted to the bundle's top and
 * load it at every start).
 */
export function requirePg(): typeof import('pg') {
  return require('pg') as typeof import('pg');
}

export function requireIoredis(): typeof import('ioredis') {
  return require('ioredis') as typeof import('ioredis');
}
