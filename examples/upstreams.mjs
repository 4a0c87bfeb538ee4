// Small real upstream servers for trying the examples: each answers with its port, the
// method, the path and the forwarding headers it received.
//   node examples/upstreams.mjs 8081 8082 8083
import { createServer } from 'node:http';

for (const port of process.argv.slice(2).map(Number)) {
  createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(`${JSON.stringify({ upstream: port, method: req.method, url: req.url, forwardedFor: req.headers['x-forwarded-for'], requestId: req.headers['x-request-id'] })}\n`);
    });
  }).listen(port, '127.0.0.1', () => console.log(`upstream listening on http://127.0.0.1:${port}`));
}
