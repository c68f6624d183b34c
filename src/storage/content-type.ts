/**
 * HTTP Content-Type for a published item, so browsers and the WWT client get the right type
 * (the 2020 pipeline set none; PNG, JPEG and XML types are what the files are).
 */

const BY_EXTENSION: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  wtml: 'text/xml; charset=utf-8',
  xml: 'text/xml; charset=utf-8',
  json: 'application/json',
  yaml: 'text/yaml',
  yml: 'text/yaml',
};

export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

export function contentTypeFor(itemPath: string): string {
  const base = itemPath.slice(itemPath.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return DEFAULT_CONTENT_TYPE;
  return BY_EXTENSION[base.slice(dot + 1).toLowerCase()] ?? DEFAULT_CONTENT_TYPE;
}
