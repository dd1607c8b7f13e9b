/** Run the `celeriac` binary as a user would, and collect what it printed and how it exited. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The repository's root (the working directory of the runs). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The binary `npm install -g` would link. */
export const BIN = `${ROOT}bin/celeriac.js`;

/** Run `celeriac <args>` (60 s at most); a non-zero exit is returned, not thrown. */
export async function cli(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: 60_000, ...(env ? { env } : {}) });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
