import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI } from './replica.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI (`node dist/src/cli.js ...args`) with only PATH and `env` set; never rejects. With
 * `timeoutMs`, a run that lasts longer gets SIGTERM then (a command expected to stop by itself that does not).
 */
export async function runCli(args: readonly string[], env: Record<string, string>, timeoutMs = 0): Promise<CliRun> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: timeoutMs,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * Runs `retry-worker demo ...args` with `env` (interrupted with SIGINT after 80 s); its exit code, its stdout and
 * the tails of both streams, for assertion messages.
 */
export async function runDemo(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; tail: string }> {
  const child = spawn(process.execPath, [CLI, 'demo', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGINT'), 80_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return {
    code,
    stdout,
    tail: `\n--- stdout (tail) ---\n${stdout.slice(-3000)}\n--- stderr ---\n${stderr.slice(-2000)}`,
  };
}
