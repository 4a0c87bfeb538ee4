/** A listen() failure explained the way an operator can act on it. */
export function listenErrorMessage(err: Error & { code?: string }, configPath: string, port: number, envName: string): string {
  if (err.code === 'EACCES') {
    return `cannot listen on port ${port} (${configPath}): ports below 1024 need root or CAP_NET_BIND_SERVICE. ` +
      `Run as root, grant it with "setcap cap_net_bind_service=+ep $(command -v node)", or choose another port (${envName}=8000).`;
  }
  if (err.code === 'EADDRINUSE') {
    return `cannot listen on port ${port} (${configPath}): the port is already in use by another process. Stop it or choose another port (${envName}).`;
  }
  return `cannot listen on port ${port} (${configPath}): ${err.message}`;
}
