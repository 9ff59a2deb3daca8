"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.default = function greet(who) { return 'hello ' + who; };
exports.version = '1.0.0';
