import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type App, isApp } from '../app/create-app.ts';
import { InvalidArgumentError } from '../errors.ts';

/** A loaded `-A` module: the app and the module's file URL (CPU threads import the same URL). */
export interface LoadedApp {
  app: App;
  moduleUrl: string;
}

/**
 * Import the module named by `-A` and find its app: the default export, an export named `app`, or
 * the only exported app.
 * @throws InvalidArgumentError naming the module when it cannot be imported or has no app.
 */
export async function loadApp(modulePath: string): Promise<LoadedApp> {
  const moduleUrl = pathToFileURL(resolve(process.cwd(), modulePath)).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(moduleUrl)) as Record<string, unknown>;
  } catch (err) {
    throw new InvalidArgumentError(`-A ${modulePath}: cannot import ${moduleUrl}: ${(err as Error).message}`, { cause: err });
  }
  const candidates = [mod.default, mod.app, ...Object.values(mod)].filter(isApp);
  const app = candidates[0];
  if (!app) {
    throw new InvalidArgumentError(`-A ${modulePath}: the module exports no Celeriac app (export it as default or as "app")`);
  }
  return { app, moduleUrl };
}
