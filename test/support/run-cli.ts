import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI } from './replica.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`node dist/src/cli.js ...args`) with only PATH and `env` set; never rejects. */
export async function runCli(args: readonly string[], env: Record<string, string>): Promise<CliRun> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
