// The Prebid.js build a publisher would make for server-side demand only: the core and the
// Prebid Server adapter (s2sConfig). Bundled by run.mjs with esbuild.
import pbjs from 'prebid.js';
import 'prebid.js/modules/prebidServerBidAdapter';

pbjs.processQueue();
