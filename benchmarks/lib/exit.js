// How every forked benchmark process (backends, baseline proxies) ends: on SIGTERM,
// SIGINT, or when its parent goes away, it closes its server and its connections and
// exits, so no run leaves a process behind.

/** Ends this process with `server` closed on any of the signals above. */
export function exitWithParent(server) {
  const shutdown = () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // The parent went away: do not outlive it.
  process.on('disconnect', shutdown);
}
