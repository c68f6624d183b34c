/** Shell-style globs (`*`, `?`) for choosing images by id on the command line. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** A predicate true for ids matching any of the globs (false for an empty list). */
export function globsMatcher(globs: readonly string[]): (id: string) => boolean {
  const res = globs.map(globToRegExp);
  return (id) => res.some((r) => r.test(id));
}
