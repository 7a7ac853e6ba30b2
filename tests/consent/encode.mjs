// Consent strings for the exchange's tests, built by the IAB's own GPP encoder
// (@iabgpp/cmpapi, pinned in package.json): TC strings (the GPP TCF EU v2 section is the TC
// string), GPP strings with TCF, US national, California and US Privacy sections.
// `node encode.mjs` prints them as JSON; fixtures.json is that output (run.mjs checks the
// committed file is exactly what the encoder builds, so the Rust tests read honest strings).
import { GppModel, RangeEntry } from '@iabgpp/cmpapi';

const CREATED = new Date(Date.UTC(2026, 10, 1));
const bits = (n, on) => Array.from({ length: n }, (_, i) => on.includes(i + 1));

function tcf(model, { purposes = [], interests = [], vendors = [], vendorInterests = [], features = [], restrictions = [] }) {
  model.setFieldValue('tcfeuv2', 'Created', CREATED);
  model.setFieldValue('tcfeuv2', 'LastUpdated', CREATED);
  model.setFieldValue('tcfeuv2', 'CmpId', 10);
  model.setFieldValue('tcfeuv2', 'CmpVersion', 1);
  model.setFieldValue('tcfeuv2', 'ConsentLanguage', 'EN');
  model.setFieldValue('tcfeuv2', 'VendorListVersion', 300);
  model.setFieldValue('tcfeuv2', 'PolicyVersion', 4);
  model.setFieldValue('tcfeuv2', 'PublisherCountryCode', 'DE');
  model.setFieldValue('tcfeuv2', 'PurposeConsents', bits(24, purposes));
  model.setFieldValue('tcfeuv2', 'PurposeLegitimateInterests', bits(24, interests));
  model.setFieldValue('tcfeuv2', 'SpecialFeatureOptins', bits(12, features));
  model.setFieldValue('tcfeuv2', 'VendorConsents', vendors);
  model.setFieldValue('tcfeuv2', 'VendorLegitimateInterests', vendorInterests);
  if (restrictions.length) {
    model.setFieldValue('tcfeuv2', 'PublisherRestrictions',
      restrictions.map(([purpose, type, ids]) => new RangeEntry(purpose, type, ids)));
  }
  return model;
}

const TCF = {
  // Everything: purposes 1-10, vendors 32, 755 and 1000, legitimate interest for 2 and 7,
  // precise geolocation opted in.
  all: { purposes: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], interests: [2, 7], vendors: [32, 755, 1000], vendorInterests: [32, 755], features: [1] },
  // Basic ads and measurement only: no personalised ads (3, 4), no precise geolocation.
  basic: { purposes: [1, 2, 7], vendors: [32, 755, 1000] },
  // No consent at all, legitimate interest for 2 and 7 for vendor 755 only.
  interestOnly: { interests: [2, 7], vendorInterests: [755] },
  // Everything, but the publisher forbids purpose 2 to vendor 755 and requires consent for
  // purpose 7 from vendor 32.
  restricted: { purposes: [1, 2, 3, 4, 7], interests: [2, 7], vendors: [32, 755, 1000], vendorInterests: [32, 755], features: [1], restrictions: [[2, 0, [755]], [7, 1, [32]]] },
  // Everything for vendor 32 only.
  onlyVendor32: { purposes: [1, 2, 3, 4, 7], vendors: [32], features: [1] },
  // The size CMPs send on real pages (for the benchmarks): 800 vendors with consent and
  // 530 with legitimate interest among ids 1-1600.
  large: {
    purposes: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], interests: [2, 7, 8, 9, 10],
    vendors: Array.from({ length: 800 }, (_, i) => 2 * i + 1),
    vendorInterests: Array.from({ length: 533 }, (_, i) => 3 * i + 1), features: [1],
  },
};

export function fixtures() {
  const out = { tcf: {}, gpp: {} };
  for (const [name, spec] of Object.entries(TCF)) {
    out.tcf[name] = tcf(new GppModel(), spec).encodeSection('tcfeuv2');
  }
  const withTcf = tcf(new GppModel(), TCF.all);
  out.gpp.tcfAll = { gpp: withTcf.encode(), sid: [2] };

  const usnat = (sale, sharing, targeted) => {
    const m = new GppModel();
    m.setFieldValue('usnat', 'SharingNotice', 1);
    m.setFieldValue('usnat', 'SaleOptOutNotice', 1);
    m.setFieldValue('usnat', 'SharingOptOutNotice', 1);
    m.setFieldValue('usnat', 'TargetedAdvertisingOptOutNotice', 1);
    m.setFieldValue('usnat', 'SaleOptOut', sale);
    m.setFieldValue('usnat', 'SharingOptOut', sharing);
    m.setFieldValue('usnat', 'TargetedAdvertisingOptOut', targeted);
    return m;
  };
  // 1 = opted out, 2 = did not opt out.
  out.gpp.usnatOptedOut = { gpp: usnat(1, 2, 2).encode(), sid: [7] };
  out.gpp.usnatTargetedOptOut = { gpp: usnat(2, 2, 1).encode(), sid: [7] };
  out.gpp.usnatNoOptOut = { gpp: usnat(2, 2, 2).encode(), sid: [7] };
  // The opted-out section present but not in force (gpp_sid names another one).
  out.gpp.usnatNotInForce = { gpp: usnat(1, 1, 1).encode(), sid: [] };

  const usca = new GppModel();
  usca.setFieldValue('usca', 'SaleOptOutNotice', 1);
  usca.setFieldValue('usca', 'SaleOptOut', 2);
  usca.setFieldValue('usca', 'SharingOptOut', 2);
  usca.setFieldValue('usca', 'Gpc', true);
  out.gpp.uscaGpc = { gpp: usca.encode(), sid: [8] };

  const usp = new GppModel();
  usp.setFieldValue('uspv1', 'Notice', 'Y');
  usp.setFieldValue('uspv1', 'OptOutSale', 'Y');
  usp.setFieldValue('uspv1', 'LspaCovered', 'N');
  out.gpp.uspOptedOut = { gpp: usp.encode(), sid: [6] };
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(fixtures(), null, 2)}\n`);
}
