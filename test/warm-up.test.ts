// The forking servers' warm-up (lib/servers/warm-up.ts) runs the request path in the parent so
// that children inherit it compiled: its requests must take the paths a child's requests take.
import * as assert from 'node:assert/strict';
import { REQUESTS } from '../lib/servers/warm-up';
import { parseGuestbookForm } from '../lib/guestbook/guestbook';

describe('warm-up: the requests the forking parent serves itself', () => {
  it("the POST is a valid guestbook form (the stored path, not 'Please enter your name.')", () => {
    const posts = REQUESTS.filter(([r]) => r.startsWith('POST /guestbook '));
    assert.equal(posts.length, 1);
    const body = posts[0][0].split('\r\n\r\n')[1];
    assert.deepEqual(parseGuestbookForm(Buffer.from(body)), { ok: true, name: 'warm', remarks: 'up' });
  });
});
