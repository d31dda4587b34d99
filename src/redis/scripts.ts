/**
 * The Lua scripts behind `lockbox/redis`: each operation of the store backend interface
 * (`src/store/backend.ts`) is one script, so one round trip, atomic on the server.
 *
 * ## Keys of one lock
 * Every key of a lock starts with the same hash tag `{<prefix>:<name>}`, so they all live in one slot
 * (one shard of a Redis Cluster) and one script may touch them all:
 *
 * | key     | type | contents                                                                               |
 * | ------- | ---- | -------------------------------------------------------------------------------------- |
 * | `…}:s`  | hash | the lock record: `kind`, `cap` (first use wins), `value` (JSON), `seq`, `tok`           |
 * | `…}:h`  | zset | granted entry id → lease expiry (server ms)                                            |
 * | `…}:hi` | hash | granted entry id → `"<permits>|<exclusive 0/1>|<token>|<clientId>"`                    |
 * | `…}:q`  | zset | queued entry id → id (the FIFO order)                                                  |
 * | `…}:qi` | hash | queued entry id → `"<permits>|<exclusive 0/1>|<ttl>|<clientId>"`                       |
 * | `…}:qe` | zset | queued entry id → queue-entry expiry (server ms)                                       |
 *
 * `…}:s` never expires: it holds the value and `seq`, the counter that hands out entry ids and fencing
 * tokens (an exclusive grant sets `tok = seq = seq + 1`), so tokens only grow while Redis keeps its
 * data. The other keys vanish on their own when they become empty (Redis deletes empty hashes and
 * sorted sets).
 *
 * ## Time
 * Expiry is decided by the server's clock only (`TIME` inside the script; scripts replicate by effects
 * since Redis 5, so this is allowed): an entry is alive while its expiry is greater than now.
 *
 * ## Granting
 * `pump` walks the queue in id order and grants each entry while it fits (exclusive: nothing granted;
 * shared: no exclusive grant and the permits fit the capacity), and stops at the first that does not
 * fit, so a queued writer blocks later readers and a large semaphore request blocks smaller ones. A
 * grant moves the entry into the holder set with its own lease. When a script grants anyone else, it
 * PUBLISHes `"<granted ids>\n<name>"` on the store's wake channel (so only the process whose entry was
 * granted needs to look); the granted waiter learns of its grant from
 * its next acquire call, which restarts its lease then (so the local deadline, measured from that call,
 * is never later than the server's).
 *
 * @module
 */

/**
 * A script's source. Its SHA1 (what `EVALSHA` takes) comes from `SCRIPT LOAD` at `ready()`, so this
 * module needs no hashing library (the entry builds for a neutral platform, without `node:crypto`).
 */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
}

function script(name: string, body: string): LuaScript {
  return { name, source: `${PRELUDE}\n${body}` };
}

/** Suffixes of a lock's keys, in the order every script receives them as KEYS[1..6]. */
export const KEY_SUFFIXES = [":s", ":h", ":hi", ":q", ":qi", ":qe"] as const;

/** The six keys of lock `name` under `prefix`, all under the hash tag `{prefix:name}`. */
export function lockKeys(prefix: string, name: string): string[] {
  const tag = `{${prefix}:${name}}`;
  return KEY_SUFFIXES.map((suffix) => tag + suffix);
}

const PRELUDE = `
local S, H, HI, Q, QI, QE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Calls redis.call(cmd, key, ...ids) in chunks (unpack has a stack limit of a few thousand values).
local function each_chunk(cmd, key, ids)
  for i = 1, #ids, 1000 do
    redis.call(cmd, key, unpack(ids, i, math.min(i + 999, #ids)))
  end
end

-- Drops granted and queued entries whose lease has ended (expiry <= now).
local function purge(now)
  local dead = redis.call('ZRANGEBYSCORE', H, '-inf', now)
  if #dead > 0 then
    each_chunk('HDEL', HI, dead)
    redis.call('ZREMRANGEBYSCORE', H, '-inf', now)
  end
  local gone = redis.call('ZRANGEBYSCORE', QE, '-inf', now)
  if #gone > 0 then
    each_chunk('ZREM', Q, gone)
    each_chunk('HDEL', QI, gone)
    redis.call('ZREMRANGEBYSCORE', QE, '-inf', now)
  end
end

-- Permits granted to live entries, and whether one of them is exclusive (call after purge).
local function granted_state()
  local used, excl = 0, false
  for _, v in ipairs(redis.call('HVALS', HI)) do
    local n, x = string.match(v, '^(%d+)|(%d)|')
    used = used + tonumber(n)
    if x == '1' then excl = true end
  end
  return used, excl
end

-- The token of a live grant, or nil when id holds nothing (or its lease ended).
local function held_token(id, now)
  local exp = redis.call('ZSCORE', H, id)
  if not exp or tonumber(exp) <= now then return nil end
  local info = redis.call('HGET', HI, id)
  if not info then return nil end
  local x, tok = string.match(info, '^%d+|(%d)|(%d+)|')
  return tok, x == '1'
end

local function next_seq()
  return string.format('%d', redis.call('HINCRBY', S, 'seq', 1))
end

-- Makes entry id a grant of n permits (x: exclusive '1' | '0') with a lease of ttl ms from now; an
-- exclusive grant takes a new token (tok = seq = seq + 1), a shared one carries the current token.
local function grant(id, n, x, ttl, who, now)
  local tok
  if x == '1' then
    tok = next_seq()
    redis.call('HSET', S, 'tok', tok)
  else
    tok = redis.call('HGET', S, 'tok') or '0'
  end
  redis.call('ZADD', H, now + tonumber(ttl), id)
  redis.call('HSET', HI, id, n .. '|' .. x .. '|' .. tok .. '|' .. who)
  return tok
end

-- Grants queued entries in id order while they fit; the first that does not fit blocks the rest.
local function pump(now)
  local cap = tonumber(redis.call('HGET', S, 'cap') or '1')
  local used, excl = granted_state()
  local count = redis.call('ZCARD', H)
  local granted = {}
  while true do
    local id = redis.call('ZRANGE', Q, 0, 0)[1]
    if not id then break end
    local info = redis.call('HGET', QI, id)
    local n, x, ttl, who = string.match(info or '0|0|0|', '^(%d+)|(%d)|(%d+)|(.*)$')
    n = tonumber(n)
    local fits
    if x == '1' then fits = count == 0 else fits = (not excl) and used + n <= cap end
    if info and not fits then break end
    redis.call('ZREM', Q, id)
    redis.call('HDEL', QI, id)
    redis.call('ZREM', QE, id)
    if info then
      grant(id, n, x, ttl, who, now)
      if x == '1' then excl = true end
      used = used + n
      count = count + 1
      granted[#granted + 1] = id
    end
  end
  return granted
end

-- Publishes the granted ids (space-separated), a newline and the name on the wake channel when anyone other than
-- skip was granted: each process wakes only when one of the granted entries is its own.
local function wake(granted, skip, channel, name)
  local ids = {}
  for _, g in ipairs(granted) do
    if g ~= skip then ids[#ids + 1] = g end
  end
  if #ids > 0 then redis.call('PUBLISH', channel, table.concat(ids, ' ') .. '\\n' .. name) end
end

-- Milliseconds until the earliest lease that may block a waiter ends: a grant or a queued entry
-- (O(log n); an entry behind the caller can only make it look again early, which is harmless).
local function wait_ms(now, fallback)
  local best = nil
  for _, key in ipairs({H, QE}) do
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if first[2] and (not best or tonumber(first[2]) < best) then best = tonumber(first[2]) end
  end
  if not best then return fallback end
  return math.max(0, best - now)
end

-- Creates the lock record on first use; returns the stored kind and capacity, and whether they refuse
-- this request.
local function record(kind, cap, has_initial, initial, permits, exclusive)
  local stored = redis.call('HGET', S, 'kind')
  if not stored then
    redis.call('HSET', S, 'kind', kind, 'cap', cap)
    if has_initial == '1' then redis.call('HSETNX', S, 'value', initial) end
    stored = kind
  end
  local scap = tonumber(redis.call('HGET', S, 'cap') or cap)
  if stored ~= kind or ((not exclusive) and tonumber(permits) > scap) then
    return stored, scap, true
  end
  return stored, scap, false
end

local function value_of()
  return redis.call('HGET', S, 'value') or false
end
`;

/**
 * Acquire-or-enqueue (`queuedId` given: the waiter's poll, which refreshes its entry) and try-acquire
 * (`try` = '1': never enqueue, never jump a live waiter).
 *
 * ARGV: kind, capacity, hasInitial ('1' | '0'), initial JSON, permits, exclusive ('1' | '0'), ttl,
 * queueTtl, clientId, queuedId ('' when none), try ('1' | '0'), channel, name.
 *
 * Returns one of `{'granted', id, token, value}`, `{'queued', id, waitMs}`, `{'busy'}`,
 * `{'mismatch', storedKind, storedCapacity}` (value is nil when the record has none).
 */
export const ACQUIRE = script(
  "acquire",
  `
local kind, cap, permits, exclusive = ARGV[1], ARGV[2], ARGV[5], ARGV[6] == '1'
local ttl, qttl, who, id, try = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9], ARGV[10], ARGV[11] == '1'
local skind, scap, refused = record(kind, cap, ARGV[3], ARGV[4], permits, exclusive)
if refused then return {'mismatch', skind, scap} end
local now = now_ms()

-- A grant made on this waiter's behalf (or a retried call): its lease restarts now.
if id ~= '' then
  local tok = held_token(id, now)
  if tok then
    redis.call('ZADD', H, now + ttl, id)
    return {'granted', id, tok, value_of()}
  end
end

purge(now)
if try then
  if redis.call('ZCARD', Q) > 0 then return {'busy'} end
  local used, excl = granted_state()
  local fits
  if exclusive then fits = redis.call('ZCARD', H) == 0 else fits = (not excl) and used + tonumber(permits) <= scap end
  if not fits then return {'busy'} end
end

local xs = '0'
if exclusive then xs = '1' end
local fresh = id == '' or not redis.call('ZSCORE', Q, id)
if fresh and redis.call('ZCARD', Q) == 0 then
  -- Nobody waits: grant at once if it fits (the uncontended path, without a detour through the queue).
  local used, excl = granted_state()
  local fits
  if exclusive then fits = redis.call('ZCARD', H) == 0 else fits = (not excl) and used + tonumber(permits) <= scap end
  if fits then
    id = next_seq()
    local tok = grant(id, tonumber(permits), xs, ttl, who, now)
    return {'granted', id, tok, value_of()}
  end
end
if fresh then
  id = next_seq()
  redis.call('ZADD', Q, id, id)
  redis.call('HSET', QI, id, permits .. '|' .. xs .. '|' .. ttl .. '|' .. who)
end
redis.call('ZADD', QE, now + qttl, id)

wake(pump(now), id, ARGV[12], ARGV[13])
local tok = held_token(id, now)
if tok then return {'granted', id, tok, value_of()} end
return {'queued', id, wait_ms(now, qttl)}
`,
);

/**
 * Writes the value while keeping the lock, if entry `id` is a live exclusive grant with `token`.
 * ARGV: id, token, value JSON. Returns 1, or 0 when the lock is not held (nothing written).
 */
export const COMMIT = script(
  "commit",
  `
local tok, excl = held_token(ARGV[1], now_ms())
if tok ~= ARGV[2] or not excl then return 0 end
redis.call('HSET', S, 'value', ARGV[3])
return 1
`,
);

/**
 * Releases entry `id`, first writing the value back when asked (exclusive grants only), both only when
 * it still holds with `token`; then hands freed permits on and publishes a wake-up when it granted.
 * ARGV: id, token, write ('1' | '0'), value JSON, channel, name.
 * Returns 1 when the entry held (and was released), 0 when it did not (nothing written).
 */
export const RELEASE = script(
  "release",
  `
local id = ARGV[1]
local now = now_ms()
local tok, excl = held_token(id, now)
local held = tok == ARGV[2]
if held and excl and ARGV[3] == '1' then redis.call('HSET', S, 'value', ARGV[4]) end
if held then
  redis.call('ZREM', H, id)
  redis.call('HDEL', HI, id)
end
purge(now)
wake(pump(now), '', ARGV[5], ARGV[6])
if held then return 1 end
return 0
`,
);

/**
 * Renews entry `id`'s lease to end `ttl` ms from now if it still holds with `token`.
 * ARGV: id, token, ttl. Returns 1, or 0 when not held (no change).
 */
export const EXTEND = script(
  "extend",
  `
local now = now_ms()
if held_token(ARGV[1], now) ~= ARGV[2] then return 0 end
redis.call('ZADD', H, now + tonumber(ARGV[3]), ARGV[1])
return 1
`,
);

/**
 * Removes entry `id`, queued or granted (a grant made on its behalf that raced with an abort is given
 * back), then hands freed permits on. Idempotent.
 * ARGV: id, channel, name. Returns 1 when a grant was given back, 0 otherwise.
 */
export const LEAVE = script(
  "leave",
  `
local id = ARGV[1]
local now = now_ms()
local had = 0
if redis.call('ZREM', H, id) == 1 then had = 1 end
redis.call('HDEL', HI, id)
redis.call('ZREM', Q, id)
redis.call('HDEL', QI, id)
redis.call('ZREM', QE, id)
purge(now)
wake(pump(now), '', ARGV[2], ARGV[3])
return had
`,
);

/** Every script, for `SCRIPT LOAD` at `ready()`. */
export const ALL_SCRIPTS: readonly LuaScript[] = [ACQUIRE, COMMIT, RELEASE, EXTEND, LEAVE];
