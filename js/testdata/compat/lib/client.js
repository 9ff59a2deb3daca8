// A small API client in CommonJS, the way many shared k6 helpers are written.
const http = require('k6/http');

function Client(base) {
  this.base = base;
}

Client.prototype.items = function () {
  return http.get(this.base + '/api/items', { tags: { name: 'items' } });
};

Client.prototype.login = function (user, password) {
  return http.post(this.base + '/api/login', JSON.stringify({ username: user, password: password }), {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'login' },
  });
};

module.exports = Client;
