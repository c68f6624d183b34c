/** Default refusal threshold for image size: decompression bombs and runaway memory. */
export const DEFAULT_MAX_PIXELS = 1e9;
