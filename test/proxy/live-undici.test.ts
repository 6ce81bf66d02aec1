// The whole live-path suite again, on the undici engine (`live.engine: undici`).
process.env.UMBRA_TEST_LIVE_ENGINE = 'undici';
await import('./live.test.js');
