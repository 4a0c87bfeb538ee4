// nginx as the reference reverse proxy: finds the binary and writes a self-contained config
// (temp paths only, never /etc/nginx or /var/log) for `nginx -p <dir> -c <conf> -g 'daemon off;'`.
import { accessSync, chmodSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** nginx lives in sbin, which is not on every user's PATH. */
export function findNginx(): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, 'nginx');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface NginxConfigSpec {
  readonly dir: string;
  readonly port: number;
  readonly originPort: number;
  /** worker_processes: 1 in per-core mode, `auto` (one per core) otherwise. */
  readonly workers: number | 'auto';
  /** Terminate TLS with this certificate (the HTTPS bench). */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Forward WebSocket upgrades instead of keeping upstream keep-alive (the WebSocket bench). */
  readonly websocket?: boolean;
}

export interface NginxFiles {
  readonly confPath: string;
  readonly errorLogPath: string;
  /** Arguments for the nginx binary. */
  readonly args: readonly string[];
}

export function writeNginxConfig(spec: NginxConfigSpec): NginxFiles {
  mkdirSync(spec.dir, { recursive: true });
  // Run as root, nginx workers switch to `nobody`; they must be able to reach the temp paths.
  chmodSync(spec.dir, 0o755);
  const confPath = join(spec.dir, 'nginx.conf');
  const errorLogPath = join(spec.dir, 'error.log');
  const tls = spec.tls === undefined ? '' : `        ssl_certificate ${spec.tls.cert};
        ssl_certificate_key ${spec.tls.key};
        ssl_protocols TLSv1.2 TLSv1.3;
`;
  const location = spec.websocket === true
    ? `            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 3600s;
`
    : `            # Upstream keep-alive needs HTTP/1.1 and no "Connection: close" from the client side.
            proxy_set_header Connection "";
            # Large bodies stream through memory buffers instead of spilling to temp files.
            proxy_max_temp_file_size 0;
${spec.tls === undefined ? '' : '            proxy_set_header X-Forwarded-Proto https;\n'}`;
  const conf = `# Written by bench/nginx.ts for one benchmark run.
worker_processes ${spec.workers};
pid ${join(spec.dir, 'nginx.pid')};
error_log ${errorLogPath} warn;

events {
    worker_connections 4096;
    multi_accept on;
}

http {
    access_log off;
    client_body_temp_path ${join(spec.dir, 'client_body')};
    proxy_temp_path ${join(spec.dir, 'proxy')};
    fastcgi_temp_path ${join(spec.dir, 'fastcgi')};
    uwsgi_temp_path ${join(spec.dir, 'uwsgi')};
    scgi_temp_path ${join(spec.dir, 'scgi')};

    upstream origin {
        server 127.0.0.1:${spec.originPort};
        keepalive 128;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }

    server {
        listen 127.0.0.1:${spec.port}${spec.tls ? ' ssl' : ''} reuseport;
${tls}        keepalive_requests 1000000;

        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
${location}        }
    }
}
`;
  writeFileSync(confPath, conf);
  return {
    confPath,
    errorLogPath,
    // -e (nginx >= 1.19.5) keeps nginx from opening its compiled-in error log before the config.
    args: ['-p', spec.dir, '-e', errorLogPath, '-c', confPath, '-g', 'daemon off;'],
  };
}
