/**
 * Path rules shared by the config, the restore function and (in shell) restore.sh: paths are
 * taken only in plain absolute form, so that no `.`, `..` or empty segment can walk around a
 * check that compares them.
 */

/** Why `path` is not a plain absolute path, or undefined when it is one. */
export function plainPathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must be an absolute path';
  const segments = path.replace(/\/$/, '').split('/').slice(1);
  if (path !== '/' && segments.some((segment) => segment === '')) return "must not contain '//'";
  if (segments.some((segment) => segment === '.' || segment === '..')) return "must not contain '.' or '..' segments";
  return undefined;
}

/** `path` without a trailing slash (`/` stays `/`). */
export function withoutTrailingSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** True when `path` is `directory` or lies below it (both plain absolute paths). */
export function isWithin(path: string, directory: string): boolean {
  const dir = withoutTrailingSlash(directory);
  const candidate = withoutTrailingSlash(path);
  return dir === '/' || candidate === dir || candidate.startsWith(`${dir}/`);
}

/** True when one path is the other or lies below it. */
export function pathsOverlap(a: string, b: string): boolean {
  return isWithin(a, b) || isWithin(b, a);
}

/** The live paths of a sqlite or files target: its one path, or its several. */
export function livePathsOf(plan: { readonly path?: string | undefined; readonly paths?: readonly string[] | undefined }): string[] {
  return plan.paths ? [...plan.paths] : plan.path !== undefined ? [plan.path] : [];
}
