// The consent strings the Rust tests read (fixtures.json) must be exactly what the IAB's
// own GPP encoder (@iabgpp/cmpapi, pinned) builds from the scenarios in encode.mjs; and
// the IAB's TCF library (@iabtechlabtcf/core, pinned) must read every TC string back with
// the purposes, vendors and restrictions the scenario set. Prints ok/FAIL lines; exits 1 on
// a failure. Run by tests/run after the Rust tests (`bash tests/consent/run`).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TCString } from '@iabtechlabtcf/core';
import { fixtures } from './encode.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
let failed = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed += 1;
};

const committed = JSON.parse(readFileSync(path.join(here, 'fixtures.json'), 'utf8'));
const fresh = fixtures();
for (const kind of Object.keys(fresh)) {
  for (const [name, value] of Object.entries(fresh[kind])) {
    check(JSON.stringify(committed[kind]?.[name]) === JSON.stringify(value),
      `fixtures.json ${kind}.${name} is what the encoder builds`);
  }
}
check(JSON.stringify(committed) === JSON.stringify(fresh), 'fixtures.json has nothing else');

const ids = (vector) => [...vector.values()].sort((a, b) => a - b);
const expect = {
  all: { purposes: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], vendors: [32, 755, 1000], interests: [32, 755], features: [1], restrictions: 0 },
  basic: { purposes: [1, 2, 7], vendors: [32, 755, 1000], interests: [], features: [], restrictions: 0 },
  interestOnly: { purposes: [], vendors: [], interests: [755], features: [], restrictions: 0 },
  restricted: { purposes: [1, 2, 3, 4, 7], vendors: [32, 755, 1000], interests: [32, 755], features: [1], restrictions: 2 },
  onlyVendor32: { purposes: [1, 2, 3, 4, 7], vendors: [32], interests: [], features: [1], restrictions: 0 },
  large: {
    purposes: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], vendors: Array.from({ length: 800 }, (_, i) => 2 * i + 1),
    interests: Array.from({ length: 533 }, (_, i) => 3 * i + 1), features: [1], restrictions: 0,
  },
};
for (const [name, want] of Object.entries(expect)) {
  const model = TCString.decode(committed.tcf[name]);
  const got = {
    purposes: ids(model.purposeConsents),
    vendors: ids(model.vendorConsents),
    interests: ids(model.vendorLegitimateInterests),
    features: ids(model.specialFeatureOptins),
    restrictions: model.publisherRestrictions.numRestrictions,
  };
  check(JSON.stringify(got) === JSON.stringify(want), `the TCF library reads tcf.${name} back: ${JSON.stringify(got)}`);
  check(model.policyVersion === 4, `tcf.${name} is TCF v2.2 (policy version 4)`);
}
const restricted = TCString.decode(committed.tcf.restricted).publisherRestrictions;
check(restricted.getVendors(restricted.getRestrictions(755)[0]).includes(755)
  && restricted.getRestrictions(755)[0].purposeId === 2
  && restricted.getRestrictions(755)[0].restrictionType === 0,
  'tcf.restricted forbids purpose 2 to vendor 755');

if (failed) {
  console.log(`consent strings: ${failed} check(s) failed`);
  process.exit(1);
}
console.log('consent strings: all checks passed');
