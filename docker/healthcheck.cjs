// Docker HEALTHCHECK for VeloFlux: exits 0 when the primary's metrics listener answers
// GET http://127.0.0.1:<VELOFLUX_METRICS_PORT or 8080>/health with 200, 1 otherwise.
'use strict';
const http = require('node:http');

const port = Number(process.env.VELOFLUX_METRICS_PORT || 8080);
const request = http.get({ host: '127.0.0.1', port, path: '/health', timeout: 3000 }, (response) => {
  response.resume();
  if (response.statusCode !== 200) console.error(`healthcheck: GET /health answered ${response.statusCode}`);
  process.exit(response.statusCode === 200 ? 0 : 1);
});
request.on('timeout', () => request.destroy(new Error('no answer within 3 s')));
request.on('error', (err) => {
  console.error(`healthcheck: GET http://127.0.0.1:${port}/health failed: ${err.message}`);
  process.exit(1);
});
