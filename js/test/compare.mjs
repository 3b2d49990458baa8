// Shared by the tests: compare a JS record with Python's (scores within TOLERANCE, everything else identical).
import assert from 'node:assert/strict';

/**
 * Largest |score difference| allowed between this package and the Python runtime on the same artifact. Measured
 * (scripts/reference.py, npm test, README "Parity"): 0 on every one of 1,532 rows with onnxruntime-node 1.31.1
 * against Python's onnxruntime 1.32.0 on this CPU (AMD EPYC, AVX-512 VNNI): the same kernels, the same float32
 * sums. Records are rounded to 6 digits, so one unit of the 6th digit (1e-6) is the smallest difference a
 * rounding boundary can show; the tolerance allows 2e-6 (two rounding units) and no more, so any real drift
 * (another kernel, another tokenisation) fails the test.
 */
export const TOLERANCE = 2e-6;

export function compareRecords(js, py, name, tolerance = TOLERANCE) {
  let maxDiff = 0;
  assert.deepEqual(Object.keys(js), Object.keys(py), `${name}: keys`);
  for (const [key, p] of Object.entries(py)) {
    const j = js[key];
    if (p === null || typeof p !== 'object') {
      assert.equal(j, p, `${name}: ${key}`);
      continue;
    }
    for (const field of ['label', 'flagged', 'windows', 'top_window']) {
      assert.equal(j[field], p[field], `${name}: ${key}.${field}`);
    }
    const diffs = [Math.abs(j.score - p.score),
      ...Object.keys(p.scores).map((l) => Math.abs(j.scores[l] - p.scores[l]))];
    maxDiff = Math.max(maxDiff, ...diffs);
  }
  assert.ok(maxDiff <= tolerance, `${name}: score differs by ${maxDiff} (tolerance ${tolerance})`);
  return maxDiff;
}
