// `node --import` entry point: installs default-limit-hooks.mjs with the limit given in
// TOASTY_TEST_DEFAULT_MAX_PIXELS. Test-only; toasty itself has no such variable.
import { register } from 'node:module';

const limit = Number(process.env.TOASTY_TEST_DEFAULT_MAX_PIXELS);
if (!(limit > 0)) throw new Error('TOASTY_TEST_DEFAULT_MAX_PIXELS must be a positive number');
register('./default-limit-hooks.mjs', import.meta.url, { data: { limit } });
