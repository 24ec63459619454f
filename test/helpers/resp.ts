// A reference encoder for Redis replies (test-only), to feed the decoder.
import { RespError, RespValue } from '../../lib/redis/resp';

export function encodeReply(v: RespValue): string {
  if (v === null) return '$-1\r\n';
  if (v instanceof RespError) return `-${v.message}\r\n`;
  if (typeof v === 'number') return `:${v}\r\n`;
  if (typeof v === 'string') return `$${Buffer.byteLength(v)}\r\n${v}\r\n`;
  return `*${v.length}\r\n${v.map(encodeReply).join('')}`;
}
