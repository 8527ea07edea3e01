// Loaded with `node --require` into Runtime Manager's CLI by
// cmd/cairn/arm_cli_test.go: names ending in .mulesoft.test resolve to
// 127.0.0.1. The CLI attaches its bearer token and organization headers
// only to hosts that look like Anypoint's (/anypoint\.mulesoft/), so the
// zone under test is reached as anypoint.mulesoft.test:<port>, without
// touching /etc/hosts.
'use strict';
const dns = require('dns');
const lookup = dns.lookup;
dns.lookup = function (host, options, callback) {
  if (typeof host === 'string' && host.endsWith('.mulesoft.test')) {
    host = '127.0.0.1';
  }
  return lookup.call(this, host, options, callback);
};
