// A test stand-in for jslib's url module (URL and URLSearchParams), written
// for loadlens's tests (not the published file): CommonJS, as the published
// bundle. The tests' module server answers
// https://jslib.k6.io/url/<version>/index.js with it.

function encodeParam(s) {
  return encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function decodeParam(s) {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

class URLSearchParams {
  constructor(init) {
    this._list = [];
    this._url = null;
    if (init === undefined || init === null) return;
    if (typeof init === 'string') {
      this._parse(init);
    } else if (Array.isArray(init)) {
      for (const [k, v] of init) this._list.push([String(k), String(v)]);
    } else if (init instanceof URLSearchParams) {
      this._list = init._list.map(([k, v]) => [k, v]);
    } else if (typeof init === 'object') {
      for (const k of Object.keys(init)) this._list.push([k, String(init[k])]);
    }
  }

  _parse(s) {
    this._list = [];
    s = s.startsWith('?') ? s.slice(1) : s;
    for (const part of s.split('&')) {
      if (part === '') continue;
      const i = part.indexOf('=');
      const k = i < 0 ? part : part.slice(0, i);
      const v = i < 0 ? '' : part.slice(i + 1);
      this._list.push([decodeParam(k), decodeParam(v)]);
    }
  }

  _update() {
    if (this._url) {
      const s = this.toString();
      this._url._search = s ? '?' + s : '';
    }
  }

  append(k, v) { this._list.push([String(k), String(v)]); this._update(); }
  delete(k) { this._list = this._list.filter(([key]) => key !== String(k)); this._update(); }
  get(k) { const e = this._list.find(([key]) => key === String(k)); return e ? e[1] : null; }
  getAll(k) { return this._list.filter(([key]) => key === String(k)).map(([, v]) => v); }
  has(k) { return this._list.some(([key]) => key === String(k)); }
  set(k, v) {
    k = String(k);
    const i = this._list.findIndex(([key]) => key === k);
    if (i < 0) {
      this._list.push([k, String(v)]);
    } else {
      this._list[i][1] = String(v);
      this._list = this._list.filter(([key], j) => key !== k || j === i);
    }
    this._update();
  }
  sort() { this._list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this._update(); }
  forEach(fn, self) { for (const [k, v] of this._list) fn.call(self, v, k, this); }
  *entries() { for (const [k, v] of this._list) yield [k, v]; }
  *keys() { for (const [k] of this._list) yield k; }
  *values() { for (const [, v] of this._list) yield v; }
  [Symbol.iterator]() { return this.entries(); }
  get size() { return this._list.length; }
  toString() { return this._list.map(([k, v]) => encodeParam(k) + '=' + encodeParam(v)).join('&'); }
}

const defaultPorts = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443', 'ftp:': '21' };
const pattern = /^([a-zA-Z][a-zA-Z0-9+.-]*:)\/\/(?:([^:@/?#]*)(?::([^@/?#]*))?@)?(\[[^\]]*\]|[^:/?#]*)(?::(\d*))?([^?#]*)(\?[^#]*)?(#.*)?$/;

class URL {
  constructor(url, base) {
    url = String(url);
    if (base !== undefined && !pattern.test(url)) {
      const b = new URL(base);
      if (url.startsWith('//')) {
        url = b.protocol + url;
      } else if (url.startsWith('/')) {
        url = b.origin + url;
      } else if (url.startsWith('?')) {
        url = b.origin + b.pathname + url;
      } else if (url.startsWith('#')) {
        url = b.origin + b.pathname + b.search + url;
      } else {
        url = b.origin + b.pathname.replace(/[^/]*$/, '') + url;
      }
    }
    const m = pattern.exec(url);
    if (!m) throw new TypeError(`Invalid URL: ${url}`);
    this.protocol = m[1].toLowerCase();
    this.username = m[2] || '';
    this.password = m[3] || '';
    this.hostname = m[4].toLowerCase();
    this.port = m[5] && m[5] !== defaultPorts[this.protocol] ? m[5] : '';
    this.pathname = URL._normalize(m[6] || '/');
    this._search = m[7] && m[7] !== '?' ? m[7] : '';
    this.hash = m[8] && m[8] !== '#' ? m[8] : '';
    this._params = new URLSearchParams(this._search);
    this._params._url = this;
  }

  static _normalize(path) {
    const out = [];
    for (const seg of path.split('/').slice(1)) {
      if (seg === '..') out.pop();
      else if (seg !== '.') out.push(seg);
    }
    return '/' + out.join('/');
  }

  get search() { return this._search; }
  set search(s) {
    s = String(s);
    this._search = s === '' || s === '?' ? '' : s.startsWith('?') ? s : '?' + s;
    this._params._parse(this._search);
  }
  get searchParams() { return this._params; }
  get host() { return this.port ? `${this.hostname}:${this.port}` : this.hostname; }
  get origin() { return `${this.protocol}//${this.host}`; }
  get href() {
    const auth = this.username ? this.username + (this.password ? ':' + this.password : '') + '@' : '';
    return `${this.protocol}//${auth}${this.host}${this.pathname}${this.search}${this.hash}`;
  }
  toString() { return this.href; }
  toJSON() { return this.href; }
}

exports.URL = URL;
exports.URLSearchParams = URLSearchParams;
