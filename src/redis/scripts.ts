/**
 * The Lua scripts behind `lockbox/redis`. Each store operation is one script, so one round trip, and
 * atomic on the server.
 *
 * ## Keys of one lock
 * Every key of a lock starts with the same hash tag `{<prefix>:<name>}`, so they all live in one slot
 * (one shard of a Redis Cluster) and one script may touch them all:
 *
 * | key     | type | contents                                                                          |
 * | ------- | ---- | --------------------------------------------------------------------------------- |
 * | `…}:s`  | hash | `kind`, `cap` (first use wins), `value` (JSON), `tok` (fencing counter), `seq`     |
 * | `…}:h`  | zset | holder id → lease expiry (server ms)                                              |
 * | `…}:hi` | hash | holder id → `"<permits>|<token>"`                                                 |
 * | `…}:q`  | zset | waiter id → arrival sequence number (the FIFO order)                              |
 * | `…}:qi` | hash | waiter id → `"<permits>|<ttl>"`                                                    |
 * | `…}:qe` | zset | waiter id → queue-entry expiry (server ms)                                        |
 *
 * `…}:s` never expires: it holds the value and the token counter. The other keys vanish on their own
 * when they become empty (Redis deletes empty hashes and sorted sets).
 *
 * ## One model for the three kinds
 * A lock is a FIFO semaphore of `cap` permits (as in tokio): a mutex has 1, an RwLock 2^30 (a read
 * takes 1, a write takes all of them), a semaphore its permit count. A grant of all `cap` permits is
 * exclusive and takes a new token (`HINCRBY tok`); other grants carry the token of the last exclusive
 * grant.
 *
 * ## Time
 * Expiry is decided by the server's clock only (`TIME` inside the script; scripts replicate by effects
 * since Redis 5, so this is allowed): a holder or waiter is alive while its score is greater than now.
 *
 * ## Hand-off
 * Whenever capacity frees up (a release, a leave, an expired lease seen by any script), `pump` grants
 * waiters from the head of the queue while they fit, moving them into the holder set with their own
 * lease, and PUBLISHes the lock's name on the store's wake channel. The head blocks later requests
 * that would fit (a queued writer blocks later readers; a large semaphore request blocks smaller ones).
 * A granted waiter learns of its grant from its next acquire call, which refreshes its lease to start
 * then (so the local deadline, measured from that call, is never later than the server's).
 *
 * @module
 */

import { createHash } from "node:crypto";

/** A script's source and its SHA1 (what `EVALSHA` takes). */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

function script(name: string, body: string): LuaScript {
  const source = `${PRELUDE}\n${body}`;
  return { name, source, sha: createHash("sha1").update(source).digest("hex") };
}

/** Permits of an RwLock: a read takes 1, a write takes all of them. */
export const RWLOCK_CAP = 2 ** 30;

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

-- Drops holders and waiters whose lease has ended (score <= now).
local function purge(now)
  local dead = redis.call('ZRANGEBYSCORE', H, '-inf', now)
  if #dead > 0 then
    redis.call('HDEL', HI, unpack(dead))
    redis.call('ZREMRANGEBYSCORE', H, '-inf', now)
  end
  local gone = redis.call('ZRANGEBYSCORE', QE, '-inf', now)
  if #gone > 0 then
    redis.call('ZREM', Q, unpack(gone))
    redis.call('HDEL', QI, unpack(gone))
    redis.call('ZREMRANGEBYSCORE', QE, '-inf', now)
  end
end

-- Permits held by live holders (call after purge).
local function used()
  local u = 0
  for _, v in ipairs(redis.call('HVALS', HI)) do
    u = u + tonumber(string.match(v, '^(%d+)|'))
  end
  return u
end

local function holder_token(id)
  local info = redis.call('HGET', HI, id)
  if not info then return nil end
  return string.match(info, '|(%d+)$')
end

-- Makes id a holder of n permits for ttl ms; an exclusive grant (all cap permits) takes a new token.
local function grant(id, n, ttl, now, cap)
  local tok
  if n == cap then
    tok = string.format('%d', redis.call('HINCRBY', S, 'tok', 1))
  else
    tok = redis.call('HGET', S, 'tok') or '0'
  end
  redis.call('ZADD', H, now + ttl, id)
  redis.call('HSET', HI, id, n .. '|' .. tok)
  return tok
end

-- Grants waiters from the head of the queue while they fit; the head blocks everyone behind it.
local function pump(now, cap)
  local granted = 0
  local free = cap - used()
  while true do
    local head = redis.call('ZRANGE', Q, 0, 0)
    local id = head[1]
    if not id then break end
    local info = redis.call('HGET', QI, id)
    local n, ttl = 0, 0
    if info then
      n, ttl = string.match(info, '^(%d+)|(%d+)$')
      n, ttl = tonumber(n), tonumber(ttl)
    end
    if n > free then break end
    redis.call('ZREM', Q, id)
    redis.call('HDEL', QI, id)
    redis.call('ZREM', QE, id)
    if info then
      grant(id, n, ttl, now, cap)
      free = free - n
      granted = granted + 1
    end
  end
  return granted
end

-- Milliseconds until the earliest holder lease ends (when a waiter should look again at the latest).
local function hint(now, fallback)
  local first = redis.call('ZRANGE', H, 0, 0, 'WITHSCORES')
  if first[2] then return math.max(0, tonumber(first[2]) - now) end
  return fallback
end

local function cap_of()
  return tonumber(redis.call('HGET', S, 'cap') or '1')
end

local function value_of(kind)
  if kind == 'semaphore' then return false end
  return redis.call('HGET', S, 'value') or false
end
`;

/**
 * Acquire, try-acquire and the waiter's poll, in one script.
 *
 * ARGV: id, kind, cap, permits (0 = all: an RwLock write), ttl, queueTtl (0 = try: never enqueue),
 * hasInitial ('1' | '0'), initial JSON, channel, name.
 *
 * Returns one of
 * - `{1, token, value}`: granted (value is nil for a semaphore or a name without a stored value);
 * - `{0, hintMs}`: not granted (queued, or a try that failed); look again within hintMs at the latest;
 * - `{-1, storedKind}`: the name was first used as another kind;
 * - `{-2, storedCap}`: more permits than the stored permit count.
 */
export const ACQUIRE = script(
  "acquire",
  `
local id, kind = ARGV[1], ARGV[2]
local want, ttl, qttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local stored = redis.call('HGET', S, 'kind')
if not stored then
  redis.call('HSET', S, 'kind', kind, 'cap', ARGV[3])
  if ARGV[7] == '1' then redis.call('HSETNX', S, 'value', ARGV[8]) end
  stored = kind
elseif stored ~= kind then
  return {-1, stored}
elseif ARGV[7] == '1' then
  redis.call('HSETNX', S, 'value', ARGV[8])
end
local cap = cap_of()
if want == 0 then want = cap end
if want > cap then return {-2, cap} end
local now = now_ms()

-- Already a holder (granted while queued, or a retried call): refresh the lease to start now.
local exp = redis.call('ZSCORE', H, id)
if exp and tonumber(exp) > now then
  redis.call('ZADD', H, now + ttl, id)
  return {1, holder_token(id), value_of(stored)}
end

purge(now)
local granted = pump(now, cap)
exp = redis.call('ZSCORE', H, id)
if exp then
  redis.call('ZADD', H, now + ttl, id)
  if granted > 1 then redis.call('PUBLISH', ARGV[9], ARGV[10]) end
  return {1, holder_token(id), value_of(stored)}
end
if granted > 0 then redis.call('PUBLISH', ARGV[9], ARGV[10]) end

if not redis.call('ZSCORE', Q, id) then
  if redis.call('ZCARD', Q) == 0 and want <= cap - used() then
    local tok = grant(id, want, ttl, now, cap)
    return {1, tok, value_of(stored)}
  end
  if qttl == 0 then return {0, hint(now, 0)} end
  local seq = redis.call('HINCRBY', S, 'seq', 1)
  redis.call('ZADD', Q, seq, id)
  redis.call('HSET', QI, id, want .. '|' .. ttl)
end
redis.call('ZADD', QE, now + qttl, id)
return {0, hint(now, qttl)}
`,
);

/**
 * Writes the value while keeping the lock, if `id` is a live holder with `token`.
 * ARGV: id, token, value JSON. Returns 1, or 0 when the lock was lost (nothing written).
 */
export const COMMIT = script(
  "commit",
  `
local id, tok = ARGV[1], ARGV[2]
local exp = redis.call('ZSCORE', H, id)
if not exp or tonumber(exp) <= now_ms() or holder_token(id) ~= tok then return 0 end
redis.call('HSET', S, 'value', ARGV[3])
return 1
`,
);

/**
 * Releases `id`, first writing the value back when asked and when `id` still holds with `token`;
 * then hands the freed permits on and publishes a wake-up.
 * ARGV: id, token, write ('1' | '0'), value JSON, channel, name.
 * Returns 1 when `id` still held the lock (and the write, if any, happened), 0 when it had been lost.
 */
export const RELEASE = script(
  "release",
  `
local id, tok = ARGV[1], ARGV[2]
local now = now_ms()
local exp = redis.call('ZSCORE', H, id)
local alive = exp and tonumber(exp) > now and holder_token(id) == tok
if alive and ARGV[3] == '1' then redis.call('HSET', S, 'value', ARGV[4]) end
if exp then
  redis.call('ZREM', H, id)
  redis.call('HDEL', HI, id)
end
purge(now)
if pump(now, cap_of()) > 0 then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
if alive then return 1 end
return 0
`,
);

/**
 * Renews `id`'s lease to end `ttl` ms from now if it still holds with `token`.
 * ARGV: id, token, ttl. Returns 1, or 0 when the lock was lost.
 */
export const EXTEND = script(
  "extend",
  `
local id, tok = ARGV[1], ARGV[2]
local now = now_ms()
local exp = redis.call('ZSCORE', H, id)
if not exp or tonumber(exp) <= now or holder_token(id) ~= tok then return 0 end
redis.call('ZADD', H, now + tonumber(ARGV[3]), id)
return 1
`,
);

/**
 * Takes waiter `id` out of the queue. If it had been granted meanwhile (a grant racing with an abort),
 * the grant is released without writing. Either way freed capacity is handed on.
 * ARGV: id, channel, name. Returns 1 when a grant was given back, 0 otherwise.
 */
export const LEAVE = script(
  "leave",
  `
local id = ARGV[1]
local now = now_ms()
local had = 0
if redis.call('ZSCORE', H, id) then
  redis.call('ZREM', H, id)
  redis.call('HDEL', HI, id)
  had = 1
end
redis.call('ZREM', Q, id)
redis.call('HDEL', QI, id)
redis.call('ZREM', QE, id)
purge(now)
if pump(now, cap_of()) > 0 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return had
`,
);

/** Every script, for `SCRIPT LOAD` at `ready()`. */
export const ALL_SCRIPTS: readonly LuaScript[] = [ACQUIRE, COMMIT, RELEASE, EXTEND, LEAVE];
