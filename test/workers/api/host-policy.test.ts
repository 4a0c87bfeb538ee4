import t from 'tap';
import { HostPolicy } from '../../../src/workers/api/host-policy.js';

t.test('unset allows every Host; set allows only the listed names, on any port', async (t) => {
  const open = new HostPolicy(undefined);
  t.ok(open.allows('anything.example') && open.allows(undefined), 'unset: any Host, even none');

  const policy = new HostPolicy(['api.example.com', '127.0.0.1', '[::1]', 'Dash.Example.com.']);
  for (const host of ['api.example.com', 'API.Example.COM:9090', 'api.example.com.', '127.0.0.1:9090', '[::1]:80', 'dash.example.com']) {
    t.ok(policy.allows(host), `${host}: allowed`);
  }
  for (const host of ['evil.example', 'api.example.com.evil.example', 'evil.example:9090', '127.0.0.2', '[::2]', '', 'api.example.com:x', undefined]) {
    t.notOk(policy.allows(host), `${String(host)}: refused`);
  }
});
