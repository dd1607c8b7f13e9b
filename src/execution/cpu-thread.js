// Entry file of a CPU pool thread. It is JavaScript because Piscina threads cannot load a .ts file
// directly (the main thread's loader hooks do not reach them). When running from source (the .ts
// implementation sits next to this file), or when the user's tasks module is TypeScript, it registers
// tsx inside the thread first; a build in dist/ imports the compiled cpu-thread-impl.js as is.
import { existsSync } from 'node:fs';
import { URL } from 'node:url';
import { workerData } from 'node:worker_threads';

const tsImpl = new URL('./cpu-thread-impl.ts', import.meta.url);
const fromSource = existsSync(tsImpl);
const moduleUrl = workerData?.moduleUrl;
if (fromSource || (typeof moduleUrl === 'string' && /\.[cm]?tsx?$/.test(moduleUrl))) {
  const { register } = await import('tsx/esm/api');
  register();
}

const impl = await import(fromSource ? tsImpl.href : new URL('./cpu-thread-impl.js', import.meta.url).href);

export default impl.default;
