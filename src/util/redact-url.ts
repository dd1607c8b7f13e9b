/**
 * A broker URL (or a comma-separated list of them) without user names, passwords or tokens, for
 * logs, banners and error messages: `nats://user:pass@a:4222,b:4222` → `nats://a:4222,b:4222`.
 */
export function redactUrl(url: string): string {
  return url
    .split(',')
    .map((s) => s.replace(/^(\s*(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/)?)[^@/]*@/, '$1'))
    .join(',');
}
