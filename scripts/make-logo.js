#!/usr/bin/env node
// Draws public/logo.png: a slashed zero ring with seven dots (one per server architecture).
// Plain RGBA PNG written by hand with zlib; 4x4 supersampling for anti-aliasing.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const SIZE = 160,
  SS = 4;
const BG = [22, 33, 62],
  RING = [64, 201, 176],
  DOT = [255, 196, 61];
const c = SIZE / 2;
const dots = Array.from({ length: 7 }, (_, k) => {
  const a = -Math.PI / 2 + (k * 2 * Math.PI) / 7;
  return [c + 66 * Math.cos(a), c + 66 * Math.sin(a)];
});

// Colour of one sample point, or null for transparent.
function sample(x, y) {
  const r = 26,
    inner = SIZE / 2 - r; // rounded square corners
  const qx = Math.max(Math.abs(x - c) - inner, 0),
    qy = Math.max(Math.abs(y - c) - inner, 0);
  if (qx * qx + qy * qy > r * r) return null;
  for (const [dx, dy] of dots) if ((x - dx) ** 2 + (y - dy) ** 2 < 7 ** 2) return DOT;
  // The zero: an ellipse ring, plus a diagonal slash inside it.
  const e = ((x - c) / 34) ** 2 + ((y - c) / 46) ** 2;
  const ringOuter = e < 1,
    ringInner = ((x - c) / 22) ** 2 + ((y - c) / 34) ** 2 < 1;
  if (ringOuter && !ringInner) return RING;
  const slash = Math.abs(x - c + (y - c) * 0.6) / Math.hypot(1, 0.6) < 5;
  if (ringInner && slash) return RING;
  return BG;
}

const raw = Buffer.alloc(SIZE * (SIZE * 4 + 1));
for (let y = 0; y < SIZE; y++) {
  raw[y * (SIZE * 4 + 1)] = 0; // filter: none
  for (let x = 0; x < SIZE; x++) {
    const acc = [0, 0, 0, 0];
    for (let sy = 0; sy < SS; sy++)
      for (let sx = 0; sx < SS; sx++) {
        const col = sample(x + (sx + 0.5) / SS, y + (sy + 0.5) / SS);
        if (!col) continue;
        acc[0] += col[0];
        acc[1] += col[1];
        acc[2] += col[2];
        acc[3]++;
      }
    const o = y * (SIZE * 4 + 1) + 1 + x * 4;
    if (acc[3]) for (let i = 0; i < 3; i++) raw[o + i] = Math.round(acc[i] / acc[3]);
    raw[o + 3] = Math.round((255 * acc[3]) / (SS * SS));
  }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  for (let k = 0; k < 8; k++) n = n & 1 ? 0xedb88320 ^ (n >>> 1) : n >>> 1;
  return n >>> 0;
});
function crc32(buf) {
  let crc = 0xffffffff;
  for (const b of buf) crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const len = Buffer.alloc(4),
    crc = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(SIZE, 0);
ihdr.writeUInt32BE(SIZE, 4);
ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk('IHDR', ihdr),
  chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
  chunk('IEND', Buffer.alloc(0)),
]);
const out = path.join(__dirname, '..', 'public', 'logo.png');
fs.writeFileSync(out, png);
console.log(`wrote ${out} (${png.length} bytes)`);
