// UTF-8 decoding as the WHATWG Encoding Standard says, which is what Node's Buffer does (V8's
// String::NewFromUtf8): each malformed sequence's maximal subpart becomes one U+FFFD.
// lib/isolate/buffer.ts puts it in the bare-isolate threads' Buffer.

const CHUNK = 8192; // code units per String.fromCharCode.apply

/** bytes[start, end) as UTF-8, malformed sequences replaced as the Encoding Standard says. */
export function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  let out = '';
  const units: number[] = [];
  for (let i = start; i < end;) {
    const b = bytes[i];
    let cp = 0xfffd,
      next = i + 1;
    if (b < 0x80) cp = b;
    else if (b >= 0xc2 && b <= 0xf4) {
      // need: continuation bytes; [lo, hi]: what the first of them may be (no overlong forms,
      // no surrogates, nothing above U+10FFFF); the others are 80..BF.
      const need = b < 0xe0 ? 1 : b < 0xf0 ? 2 : 3;
      let lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
      let hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
      let v = b & (0x3f >> need),
        k = 0;
      for (; k < need && next < end && bytes[next] >= lo && bytes[next] <= hi; k++, next++) {
        v = (v << 6) | (bytes[next] & 0x3f);
        lo = 0x80;
        hi = 0xbf;
      }
      if (k === need) cp = v; // else one U+FFFD for the bytes taken, and the next byte starts anew
    }
    if (cp > 0xffff) units.push(0xd7c0 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    else units.push(cp);
    i = next;
    if (units.length >= CHUNK) {
      out += String.fromCharCode.apply(null, units);
      units.length = 0;
    }
  }
  return out + String.fromCharCode.apply(null, units);
}
