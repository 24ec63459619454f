import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ALLOW,
  SERVER,
  STATUS_TEXT,
  errorResponse,
  escapeHtml,
  htmlResponse,
  responseHead,
} from '../lib/http/response';

// RFC 9110 §15 (and RFC 6585 §5 for 431): the reason phrases of the statuses we may send.
const RFC_REASON: Record<number, string> = {
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
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** Every status literal in the sources under `dir`: arguments of the response builders, `status: N`, and unions like `404 | 403`. */
function statusesUsedIn(dir: string): Set<number> {
  const found = new Set<number>();
  const patterns = [
    /\b(?:errorPlan|errorResponse|htmlResponse|html|responseHead|fail|writeHead|HttpError|sendError\(req, res,|send\(req, res,)\(?\s*([1-5]\d\d)\b/g,
    /\bstatus: ([1-5]\d\d)\b/g,
    /\b([1-5]\d\d)(?= \| [1-5]\d\d\b)/g,
    /(?<=\b[1-5]\d\d \| )([1-5]\d\d)\b/g,
  ];
  for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
    if (!f.endsWith('.ts')) continue;
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    for (const re of patterns) for (const m of src.matchAll(re)) found.add(Number(m[1]));
  }
  return found;
}

function split(res: Buffer) {
  const s = res.toString('utf8');
  const i = s.indexOf('\r\n\r\n');
  assert.ok(i > 0, 'head terminator');
  const [statusLine, ...lines] = s.slice(0, i).split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
  return { statusLine, headers, body: s.slice(i + 4), bodyBytes: res.subarray(Buffer.from(s.slice(0, i + 4)).length) };
}

describe('response builders', () => {
  it('STATUS_TEXT has the RFC 9110 reason phrase of every status the code can send', () => {
    const used = statusesUsedIn(path.join(__dirname, '..', '..', 'lib'));
    // The scan must see at least these (else it has gone blind, e.g. after a rename).
    for (const s of [200, 301, 400, 403, 404, 405, 408, 411, 413, 414, 431, 500, 501, 502, 503, 505])
      assert.ok(used.has(s), `scan missed ${s}`);
    for (const s of used) assert.equal(STATUS_TEXT[s], RFC_REASON[s], `status ${s}`);
  });

  it('502 goes out as "502 Bad Gateway", in the status line and the page title', () => {
    const { statusLine, body } = split(errorResponse(502, { message: 'unexpected reply from the database' }));
    assert.equal(statusLine, 'HTTP/1.0 502 Bad Gateway');
    assert.match(body, /<title>502 Bad Gateway<\/title>/);
  });

  it('responseHead has the exact documented shape', () => {
    assert.equal(
      responseHead(200, 'image/png', 1234).toString(),
      `HTTP/1.0 200 OK\r\nServer: ${SERVER}\r\nContent-Type: image/png\r\nContent-Length: 1234\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(
      responseHead(301, 'text/html; charset=utf-8', 0, { Location: '/about/' }).toString(),
      'HTTP/1.0 301 Moved Permanently\r\nServer: zerohttpd/0.1\r\nContent-Type: text/html; charset=utf-8\r\n' +
        'Content-Length: 0\r\nConnection: close\r\nLocation: /about/\r\n\r\n',
    );
  });

  it('responseHead rejects CR/LF in header values and bad names or numbers', () => {
    assert.throws(() => responseHead(200, 'text/plain', 0, { Location: '/a\r\nSet-Cookie: x=1' }), TypeError);
    assert.throws(() => responseHead(200, 'text/plain', 0, { Location: '/a\nb' }), TypeError);
    assert.throws(() => responseHead(200, 'text/plain\r\n', 0), TypeError);
    assert.throws(() => responseHead(200, 'text/plain', 0, { 'Bad Name': 'x' }), TypeError);
    assert.throws(() => responseHead(200, 'text/plain', -1), RangeError);
    assert.throws(() => responseHead(200, 'text/plain', 1.5), RangeError);
    assert.throws(() => responseHead(42, 'text/plain', 0), RangeError);
  });

  it('htmlResponse counts body bytes, not characters', () => {
    const html = '<p>héllo ✓</p>';
    const { statusLine, headers, bodyBytes } = split(htmlResponse(200, html));
    assert.equal(statusLine, 'HTTP/1.0 200 OK');
    assert.equal(headers.get('Content-Type'), 'text/html; charset=utf-8');
    assert.equal(headers.get('Content-Length'), String(Buffer.byteLength(html)));
    assert.equal(bodyBytes.toString('utf8'), html);
  });

  it('htmlResponse with head:true keeps the headers and drops the body', () => {
    const html = '<p>hello</p>';
    const full = htmlResponse(200, html, { extra: { 'X-A': 'b' } });
    const head = htmlResponse(200, html, { head: true, extra: { 'X-A': 'b' } });
    assert.equal(head.length, full.length - html.length);
    assert.ok(head.toString().endsWith('\r\n\r\n'));
    assert.equal(split(head).headers.get('Content-Length'), String(html.length));
    assert.equal(split(head).headers.get('X-A'), 'b');
  });

  it('errorResponse renders a small escaped page', () => {
    const { statusLine, headers, body } = split(errorResponse(404, { message: 'No <script> & "such" file' }));
    assert.equal(statusLine, 'HTTP/1.0 404 Not Found');
    assert.equal(headers.get('Connection'), 'close');
    assert.match(body, /<h1>404 Not Found<\/h1><p>No &lt;script&gt; &amp; &quot;such&quot; file<\/p>/);
    assert.doesNotMatch(body, /<script>/);
    assert.doesNotMatch(body, /https?:/, 'self-contained');
    assert.equal(headers.get('Content-Length'), String(Buffer.byteLength(body)));
  });

  it('errorResponse without message, with head:true, with extra', () => {
    assert.doesNotMatch(split(errorResponse(400)).body, /<p>/);
    const head = errorResponse(503, { head: true, extra: { 'Retry-After': '1' } });
    const { statusLine, headers, body } = split(head);
    assert.equal(statusLine, 'HTTP/1.0 503 Service Unavailable');
    assert.equal(body, '');
    assert.equal(headers.get('Retry-After'), '1');
    assert.ok(Number(headers.get('Content-Length')) > 0);
  });

  it('405 and 501 carry an Allow header', () => {
    assert.equal(split(errorResponse(501)).headers.get('Allow'), ALLOW);
    assert.equal(split(errorResponse(405)).headers.get('Allow'), 'GET, HEAD, POST');
    assert.equal(split(errorResponse(405, { extra: { Allow: 'GET' } })).headers.get('Allow'), 'GET');
    assert.equal(split(errorResponse(404)).headers.has('Allow'), false);
  });

  it('escapeHtml escapes the five special characters', () => {
    assert.equal(
      escapeHtml(`<a href="x">Tom & Jerry's</a>`),
      '&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;',
    );
    assert.equal(escapeHtml('plain ✓'), 'plain ✓');
    assert.equal(escapeHtml('&amp;'), '&amp;amp;');
  });
});
