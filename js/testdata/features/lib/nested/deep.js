import { VERSION } from '../helper.js';
import http from 'k6/http';
export function deep() { return typeof http.get === 'function' ? 'deep:' + VERSION : 'no http'; }
