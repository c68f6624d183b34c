// Module hooks for a child `toasty` process: serve `src/wwt/limits` with a lower default pixel
// limit (from `initialize`), so a small test image can stand for one above the real 1e9 default.
let limit;

export function initialize(data) {
  limit = data.limit;
}

export async function load(url, context, nextLoad) {
  if (/\/src\/wwt\/limits\.(js|ts)$/.test(url)) {
    return { format: 'module', source: `export const DEFAULT_MAX_PIXELS = ${limit};\n`, shortCircuit: true };
  }
  return nextLoad(url, context);
}
