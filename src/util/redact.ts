/**
 * Secrets out of text meant for people: the user:password of URLs, signature- and token-like
 * query parameters, and Azure connection-string keys. Used for every ToastyError message and
 * every line the console log prints, so a URL that carries credentials (in a feed, a config, or
 * a library's own error text that quotes it) is never shown as it is.
 */

const SECRET_PARAM =
  /^(sig|signature|token|access_token|id_token|code|key|api_key|apikey|password|secret|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential)$/i;

function redactQuery(search: string): string {
  return search
    .split('&')
    .map((pair) => {
      const name = pair.split('=', 1)[0] ?? '';
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        /* keep as is */
      }
      return SECRET_PARAM.test(decoded) ? `${name}=REDACTED` : pair;
    })
    .join('&');
}

/**
 * The URL for messages: user:password removed, signature/token-like query values redacted.
 * A URL with nothing to hide is returned exactly as given.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not parseable: take out what looks like userinfo and secret parameters by hand.
    const q = url.indexOf('?');
    const base = (q < 0 ? url : url.slice(0, q)).replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#\s]*@/i, '$1');
    return q < 0 ? base : `${base}?${redactQuery(url.slice(q + 1))}`;
  }
  let changed = false;
  if (u.username || u.password) {
    u.username = '';
    u.password = '';
    changed = true;
  }
  if (u.search) {
    const search = redactQuery(u.search.slice(1));
    if (search !== u.search.slice(1)) {
      u.search = search;
      changed = true;
    }
  }
  return changed ? u.toString() : url;
}

const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;
const TRAILING_PUNCTUATION = /[).,;:\]]+$/;

/** `text` with every URL in it passed through `redactUrl`, and connection-string keys hidden. */
export function redactSecrets(text: string): string {
  if (!text.includes('://') && !/AccountKey|SharedAccessSignature/i.test(text)) return text;
  return text
    .replace(URL_IN_TEXT, (match) => {
      const tail = TRAILING_PUNCTUATION.exec(match)?.[0] ?? '';
      return redactUrl(match.slice(0, match.length - tail.length)) + tail;
    })
    .replace(/\b(AccountKey|SharedAccessSignature)\s*=\s*[^;\s"']*/gi, '$1=REDACTED');
}
