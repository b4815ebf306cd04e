// The probe-app contract (README "The probe-app contract") on node-fastcgi, a FastCGI
// implementation in JavaScript (Debian: node-fastcgi), to certify it as a backend the
// harness has no adapter for:  fcgi-harness certify backend --spawn 'node probe_node.js {addr}'
'use strict';
// Debian installs node modules in /usr/share/nodejs, which only Debian's own nodejs searches
// (a nodesource nodejs does not): say it here, so any nodejs finds node-fastcgi's dependencies.
process.env.NODE_PATH = ['/usr/share/nodejs', process.env.NODE_PATH].filter(Boolean).join(':');
require('module').Module._initPaths();
const fcgi = require('node-fastcgi');
const crypto = require('crypto');

fcgi.createServer((req, res) => {
  const q = Object.fromEntries(new URLSearchParams(req.cgiParams.QUERY_STRING || ''));
  const delay = Number(q.delay_ms || 0);
  const piece = Number(q.chunk || 0) || 65536;
  // The pattern for a piece at any offset: a piece and 16 bytes.
  const block = Buffer.from('0123456789abcdef'.repeat(Math.ceil(piece / 16) + 1));
  // Writes `total` bytes, `bytesAt(offset, n)` giving each piece, `chunk` bytes at a time.
  const answer = (total, bytesAt) => {
    if (q.stderr) process.stderr.write('E'.repeat(Number(q.stderr)));
    res.writeHead(Number(q.status || 200), {'Content-Type': 'application/octet-stream'});
    let at = 0;
    const next = () => {
      while (at < total) {
        const n = Math.min(piece, total - at);
        const more = res.write(bytesAt(at, n));
        at += n;
        if (delay) return setTimeout(next, delay);
        if (!more) return res.once('drain', next);  // the gateway reads slowly: wait
      }
      res.end();
    };
    setTimeout(next, Number(q.first_byte_ms || 0));
  };
  if (q.size !== undefined)  // size=N: the pattern, the body not read
    return answer(Number(q.size), (at, n) => block.subarray(at % 16, at % 16 + n));
  const stdin = [];
  req.on('data', (d) => stdin.push(d));
  req.on('end', () => {
    let body = Buffer.concat(stdin);
    if (q.echo !== '1') {  // the listing: every parameter, then the stdin digest
      const p = req.cgiParams;
      body = Buffer.from(Object.keys(p).sort().map((k) => `${k}=${p[k]}\n`).join('') +
          `STDIN-BYTES=${body.length}\nSTDIN-SHA256=` +
          crypto.createHash('sha256').update(body).digest('hex') + '\n');
    }
    answer(body.length, (at, n) => body.subarray(at, at + n));
  });
}).listen(...(process.argv[2].startsWith('unix:') ? [process.argv[2].slice(5)]
    : [Number(process.argv[2].split(':')[1]), process.argv[2].split(':')[0]]));
