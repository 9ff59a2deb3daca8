import http from 'k6/http';
export const options = { vus: 3, duration: '10s', thresholds: { http_req_duration: ['p(95)<500'] }, tags: { a: 'b' } };
export default function () { http.get('http://127.0.0.1:1/'); }
