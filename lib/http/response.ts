// Pure HTTP/1.0 response builders. Every response closes the connection.

export const SERVER = 'zerohttpd/0.1';
export const ALLOW = 'GET, HEAD, POST';

export const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  411: 'Length Required',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

export const HTML = 'text/html; charset=utf-8';
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** contentLength null: no Content-Length (a HEAD answer for a page that is not rendered). */
export function responseHead(
  status: number,
  contentType: string,
  contentLength: number | null,
  extra?: Record<string, string>,
): Buffer {
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`bad status ${status}`);
  if (contentLength !== null && (!Number.isSafeInteger(contentLength) || contentLength < 0))
    throw new RangeError(`bad Content-Length ${contentLength}`);
  let head =
    `HTTP/1.0 ${status} ${STATUS_TEXT[status] ?? 'Unknown'}\r\nServer: ${SERVER}\r\nContent-Type: ${checkValue(contentType)}\r\n` +
    `${contentLength === null ? '' : `Content-Length: ${contentLength}\r\n`}Connection: close\r\n`;
  for (const [name, value] of Object.entries(extra ?? {})) {
    if (!TOKEN_RE.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
    head += `${name}: ${checkValue(value)}\r\n`;
  }
  return Buffer.from(head + '\r\n', 'latin1');
}

function checkValue(value: string): string {
  if (/[\r\n\0]/.test(value)) throw new TypeError(`CR/LF/NUL in header value ${JSON.stringify(value)}`);
  return value;
}

export function htmlResponse(
  status: number,
  html: string,
  opts: { head?: boolean; extra?: Record<string, string> } = {},
): Buffer {
  const body = Buffer.from(html, 'utf8');
  const head = responseHead(status, HTML, body.length, opts.extra);
  return opts.head ? head : Buffer.concat([head, body]);
}

export function errorResponse(
  status: number,
  opts: { message?: string; head?: boolean; extra?: Record<string, string> } = {},
): Buffer {
  const title = `${status} ${STATUS_TEXT[status] ?? 'Error'}`;
  const html =
    `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>` +
    `<body><h1>${title}</h1>${opts.message ? `<p>${escapeHtml(opts.message)}</p>` : ''}</body></html>\n`;
  const extra = (status === 405 || status === 501) && !opts.extra?.Allow ? { Allow: ALLOW, ...opts.extra } : opts.extra;
  return htmlResponse(status, html, { head: opts.head, extra });
}
