// The e2e suite again, on the undici live engine (`live.engine: undici`).
process.env.UMBRA_TEST_LIVE_ENGINE = 'undici';
await import('./e2e.test.js');
