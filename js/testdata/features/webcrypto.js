// WebCrypto: crypto.subtle, as k6 has it (globalThis.crypto).
import { check } from 'k6';

export const options = { iterations: 1, thresholds: { checks: ['rate==1'] } };

const enc = (s) => new TextEncoder().encode(s);
const hex = (buf) => Array.from(new Uint8Array(buf)).map((b) => b.toString(16).padStart(2, '0')).join('');

export default async function () {
  const digest = hex(await crypto.subtle.digest('SHA-256', enc('hello')));

  const hmacKey = await crypto.subtle.importKey('raw', enc('key'), { name: 'HMAC', hash: { name: 'SHA-256' } }, true, ['sign', 'verify']);
  const mac = await crypto.subtle.sign('HMAC', hmacKey, enc('The quick brown fox jumps over the lazy dog'));
  const macOK = await crypto.subtle.verify('HMAC', hmacKey, mac, enc('The quick brown fox jumps over the lazy dog'));
  const rawKey = hex(await crypto.subtle.exportKey('raw', hmacKey));

  const aes = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv }, aes, enc('secret message'));
  const opened = new TextDecoder().decode(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: iv }, aes, sealed));

  const cbcKey = await crypto.subtle.importKey('raw', new Uint8Array(16), 'AES-CBC', false, ['encrypt', 'decrypt']);
  const cbcIV = new Uint8Array(16);
  const cbc = await crypto.subtle.encrypt({ name: 'AES-CBC', iv: cbcIV }, cbcKey, enc('sixteen byte msg'));
  const cbcBack = new TextDecoder().decode(await crypto.subtle.decrypt({ name: 'AES-CBC', iv: cbcIV }, cbcKey, cbc));

  const ec = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: { name: 'SHA-256' } }, ec.privateKey, enc('data'));
  const sigOK = await crypto.subtle.verify({ name: 'ECDSA', hash: { name: 'SHA-256' } }, ec.publicKey, sig, enc('data'));
  const sigBad = await crypto.subtle.verify({ name: 'ECDSA', hash: { name: 'SHA-256' } }, ec.publicKey, sig, enc('other'));

  const alice = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
  const bob = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
  const ab = hex(await crypto.subtle.deriveBits({ name: 'ECDH', public: bob.publicKey }, alice.privateKey, 256));
  const ba = hex(await crypto.subtle.deriveBits({ name: 'ECDH', public: alice.publicKey }, bob.privateKey, 256));

  const genHMAC = await crypto.subtle.generateKey({ name: 'HMAC', hash: { name: 'SHA-1' } }, true, ['sign', 'verify']);
  const genMAC = await crypto.subtle.sign('HMAC', genHMAC, enc('Hello World'));
  const genOK = await crypto.subtle.verify('HMAC', genHMAC, genMAC, enc('Hello World'));

  let refused = '';
  try {
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv }, hmacKey, enc('x'));
  } catch (e) {
    refused = e.name;
  }

  check(null, {
    'digest': () => digest === '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    'HMAC sign': () => hex(mac) === 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
    'HMAC verify': () => macOK === true,
    'exportKey raw': () => rawKey === '6b6579',
    'CryptoKey': () => aes.type === 'secret' && aes.algorithm.name === 'AES-GCM' && aes.algorithm.length === 256 && aes.usages.join() === 'encrypt,decrypt',
    'AES-GCM round trip': () => opened === 'secret message' && sealed.byteLength === 14 + 16,
    'AES-CBC round trip': () => cbcBack === 'sixteen byte msg' && cbc.byteLength === 32,
    'ECDSA': () => sigOK === true && sigBad === false && sig.byteLength === 64,
    'ECDH': () => ab === ba && ab.length === 64,
    'key usages are enforced': () => refused === 'InvalidAccessError',
    'generateKey HMAC without a length': () => genOK === true && genMAC.byteLength === 20 && genHMAC.algorithm.length === 512,
  });
}
