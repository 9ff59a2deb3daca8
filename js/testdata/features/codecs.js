// k6/encoding, k6/crypto, TextEncoder/TextDecoder, crypto.getRandomValues.
import encoding from 'k6/encoding';
import { b64decode } from 'k6/encoding';
import crypto from 'k6/crypto';
import { sha256, hmac, createHash, createHMAC, randomBytes, md4, md5, sha1, ripemd160, sha512 } from 'k6/crypto';
import { check } from 'k6';

export const options = { iterations: 1 };

export default function () {
  check(null, {
    'b64 std': () => encoding.b64encode('hello') === 'aGVsbG8=',
    'b64 rawstd': () => encoding.b64encode('hello', 'rawstd') === 'aGVsbG8',
    'b64 url': () => encoding.b64encode('??>', 'url') === 'Pz8-' && encoding.b64encode('??>') === 'Pz8+',
    'b64 rawurl': () => encoding.b64encode('?', 'rawurl') === 'Pw',
    'b64decode string': () => b64decode('aGVsbG8=', 'std', 's') === 'hello',
    'b64decode buffer': () => new Uint8Array(b64decode('aGVsbG8=')).join() === '104,101,108,108,111',
    'b64 of buffer': () => encoding.b64encode(new Uint8Array([0, 255]).buffer) === 'AP8=',
  });
  check(null, {
    'md4': () => md4('hello', 'hex') === '866437cb7a794bce2b727acc0362ee27',
    'md5': () => md5('hello', 'hex') === '5d41402abc4b2a76b9719d911017c592',
    'sha1': () => sha1('hello', 'hex') === 'aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d',
    'sha256': () => sha256('hello', 'hex') === '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    'sha256 base64': () => crypto.sha256('hello', 'base64') === 'LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=',
    'sha512 binary': () => sha512('hello', 'binary').byteLength === 64,
    'ripemd160': () => ripemd160('hello', 'hex') === '108f07b8382412612c048d07d13f814118445acd',
    'hmac': () => hmac('sha256', 'key', 'The quick brown fox jumps over the lazy dog', 'hex') === 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
    'createHash': () => createHash('sha256').update('hel').update('lo').digest('hex') === sha256('hello', 'hex'),
    'createHMAC': () => createHMAC('sha256', 'key').update('The quick brown fox jumps over the lazy dog').digest('hex').startsWith('f7bc83f4'),
    'randomBytes': () => randomBytes(8).byteLength === 8,
    'hexEncode': () => crypto.hexEncode(new Uint8Array([1, 171]).buffer) === '01ab',
  });
  const bytes = new TextEncoder().encode('héllo');
  check(bytes, {
    'TextEncoder': (b) => b instanceof Uint8Array && b.length === 6,
    'TextDecoder': (b) => new TextDecoder().decode(b) === 'héllo' && new TextDecoder('utf-8').encoding === 'utf-8',
  });
  check(globalThis.crypto, {
    'getRandomValues': (c) => c.getRandomValues(new Uint8Array(16)).length === 16,
    'randomUUID': (c) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(c.randomUUID()),
  });
}
