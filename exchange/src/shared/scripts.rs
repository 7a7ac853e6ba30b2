//! The Lua scripts the Redis store runs. Each is loaded once per connection (`SCRIPT
//! LOAD`) and run by `EVALSHA` (the `redis` crate's `Script` reloads it after a
//! `NOSCRIPT`, e.g. when Redis restarted empty). Each touches the keys of one hash tag
//! only, so it runs unchanged on Redis Cluster. [`super::memory::MemoryStore`] implements
//! the same rules in Rust; the behavioural suite holds both to them.

/// Counts one impression for a user, once.
///
/// `KEYS[1]` the user's counter hash, `KEYS[2]` the event marker. `ARGV[1]` marker TTL,
/// then per counter `field, bucket, ttl_secs`. A field holds `bucket:count`; a counter of
/// an older bucket restarts at 1 (windows roll over by themselves, no sweeper). The hash
/// lives as long as its longest window. Returns 1 if counted, 0 for a replay.
pub const COUNT_IMPRESSION: &str = r"
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local longest = 0
for i = 2, #ARGV, 3 do
  local field, bucket, ttl = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local count = 1
  local old = redis.call('HGET', KEYS[1], field)
  if old then
    local b, c = string.match(old, '^(-?%d+):(%d+)$')
    if b == bucket then count = tonumber(c) + 1 end
  end
  redis.call('HSET', KEYS[1], field, bucket .. ':' .. count)
  if ttl > longest then longest = ttl end
end
if longest > 0 and redis.call('TTL', KEYS[1]) < longest then
  redis.call('EXPIRE', KEYS[1], longest)
end
return 1
";

/// Sets one field of a user's hash and makes the hash live at least so long.
///
/// `KEYS[1]` the user's hash. `ARGV[1]` field, `ARGV[2]` value, `ARGV[3]` TTL (s).
/// Returns 1 (a set is idempotent).
pub const PUT_FIELD: &str = r"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return 1
";

/// Commits spend, once, and releases the win's reservation.
///
/// `KEYS[1]` the day hash, `KEYS[2]` the lifetime hash, `KEYS[3]` the event marker.
/// `ARGV[1]` micros, `ARGV[2]` marker TTL, `ARGV[3]` day-hash TTL, `ARGV[4]` micros
/// reserved for the win (0: none), `ARGV[5]` its reservation bucket. `reserved` and the
/// bucket's `r:<bucket>` go down by the reservation (a notice may commit before its node
/// reported the win: they then dip below 0 until it does). Returns 1 if committed, 0
/// for a replay.
pub const COMMIT_SPEND: &str = r"
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[2]) then return 0 end
local reserved = tonumber(ARGV[4])
for i = 1, 2 do
  redis.call('HINCRBY', KEYS[i], 'spent', ARGV[1])
  if reserved > 0 then
    redis.call('HINCRBY', KEYS[i], 'reserved', -reserved)
    redis.call('HINCRBY', KEYS[i], 'r:' .. ARGV[5], -reserved)
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Settles a node's lease and grants more, atomically.
///
/// `KEYS[1]` the day hash, `KEYS[2]` the lifetime hash. `ARGV`: node, release, want,
/// daily budget (-1: none), lifetime budget (-1: none), now (ms), lease TTL (ms), day-hash
/// TTL (s), reserve, reserve bucket, bucket width (s). First every expired node lease is
/// returned (a node that died gives its lease back this way, no sweeper) and every
/// reservation bucket that has ended is dropped. Then this node gives back `release` of
/// what it holds, of which `reserve` (what its wins used) stays reserved in the bucket
/// until their notices commit, and is granted `min(want, budget − spent − leased −
/// reserved)` for each budget (never negative): committed spend + outstanding leases +
/// reservations never exceed a budget, however late the notices come within their
/// validity. Its lease expiry moves to now + TTL. Returns `{granted, held, spent_day,
/// leased_day, spent_total, reserved_day}`.
pub const LEASE: &str = r"
local function int(x) return string.format('%d', x) end
local node, release, want = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local budgets = { tonumber(ARGV[4]), tonumber(ARGV[5]) }
local now, ttl = tonumber(ARGV[6]), tonumber(ARGV[7])
local reserve, bucket, width = tonumber(ARGV[9]), ARGV[10], tonumber(ARGV[11])
local grant, held, reserved_out = want, { 0, 0 }, { 0, 0 }
for i = 1, 2 do
  local key = KEYS[i]
  local fields = redis.call('HGETALL', key)
  local leased, reserved = 0, 0
  for j = 1, #fields, 2 do
    if fields[j] == 'leased' then leased = tonumber(fields[j + 1]) end
    if fields[j] == 'reserved' then reserved = tonumber(fields[j + 1]) end
  end
  for j = 1, #fields, 2 do
    local f = fields[j]
    if string.sub(f, 1, 2) == 'e:' and tonumber(fields[j + 1]) < now then
      local other = string.sub(f, 3)
      leased = leased - tonumber(redis.call('HGET', key, 'n:' .. other) or '0')
      redis.call('HDEL', key, 'n:' .. other, f)
    elseif string.sub(f, 1, 2) == 'r:' and (tonumber(string.sub(f, 3)) + 1) * width * 1000 <= now then
      reserved = reserved - tonumber(fields[j + 1])
      redis.call('HDEL', key, f)
    end
  end
  local h = tonumber(redis.call('HGET', key, 'n:' .. node) or '0')
  local r = math.min(release, h)
  leased = math.max(leased - r, 0)
  held[i] = h - r
  if reserve > 0 then
    reserved = reserved + reserve
    redis.call('HINCRBY', key, 'r:' .. bucket, int(reserve))
  end
  reserved_out[i] = reserved
  redis.call('HSET', key, 'leased', int(leased), 'reserved', int(reserved), 'n:' .. node, int(held[i]))
  if budgets[i] >= 0 then
    local spent = tonumber(redis.call('HGET', key, 'spent') or '0')
    grant = math.min(grant, budgets[i] - spent - leased - math.max(reserved, 0))
  end
end
if grant < 0 then grant = 0 end
for i = 1, 2 do
  redis.call('HINCRBY', KEYS[i], 'leased', int(grant))
  redis.call('HSET', KEYS[i], 'n:' .. node, int(held[i] + grant), 'e:' .. node, int(now + ttl))
end
redis.call('EXPIRE', KEYS[1], ARGV[8])
local mine = held[1]
if budgets[1] < 0 then mine = held[2] end
local day = redis.call('HMGET', KEYS[1], 'spent', 'leased')
local spent_total = redis.call('HGET', KEYS[2], 'spent')
return { grant, mine + grant, tonumber(day[1] or '0'), tonumber(day[2] or '0'), tonumber(spent_total or '0'), reserved_out[1] }
";
