/**
 * The SQL of `lockbox/postgres`: two tables and five server-side functions, all named with the store's
 * `table` as a prefix, so that every operation of the store core is ONE statement (one round trip).
 *
 * Schema (for `table = "lockbox_locks"`):
 * - `lockbox_locks(name, kind, capacity, value, seq, token)`: one row per lock name. `value` is the JSON
 *   text the user's value serialized to (text, not jsonb: it comes back exactly as written). `seq` hands
 *   out entry ids and tokens and never decreases, so tokens stay strictly increasing across restarts.
 * - `lockbox_locks_entries(name, id, permits, exclusive, ttl_ms, granted, expires_at, client_id)`: the
 *   grants and the FIFO queue of each name, each with its own lease in server time.
 *
 * Locking discipline: every function that may grant (acquire, release, leave) first locks the lock's
 * row (`FOR UPDATE`), so grants of one name are serialized, and a fenced transaction that holds the
 * row lock keeps every new grant out until it ends. `extend` touches only its own entry row, so a
 * renewal never waits behind a fenced transaction.
 *
 * @internal
 * @module
 */

/** Quoted names of everything one store creates. */
export interface SqlNames {
  /** The lock table. */
  readonly locks: string;
  readonly entries: string;
  readonly grant: string;
  readonly acquire: string;
  readonly release: string;
  readonly commit: string;
  readonly leave: string;
  readonly fence: string;
  /** The schema to create, quoted, when `table` names one. */
  readonly schema: string | undefined;
  /** The NOTIFY channel (unquoted text, as `pg_notify` takes it). */
  readonly channel: string;
  /** The LISTEN statement's identifier (quoted). */
  readonly channelIdentifier: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Longest table name part: PostgreSQL identifiers have 63 bytes, and `_entries` is appended. */
export const MAX_TABLE_PART = 50;

/** Splits and checks `table` (`name` or `schema.name`); `undefined` when it is not valid. */
export function parseTable(table: string): { schema: string | undefined; name: string } | undefined {
  const parts = table.split(".");
  if (parts.length > 2) return undefined;
  for (const part of parts) if (!IDENTIFIER.test(part) || part.length > MAX_TABLE_PART) return undefined;
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { schema: undefined, name: parts[0]! };
}

function quote(identifier: string): string {
  return `"${identifier}"`;
}

export function sqlNames(table: string): SqlNames {
  const parsed = parseTable(table);
  if (parsed === undefined) throw new RangeError(`invalid table ${table}`);
  const prefix = parsed.schema === undefined ? "" : `${quote(parsed.schema)}.`;
  const name = (suffix: string) => `${prefix}${quote(parsed.name + suffix)}`;
  return {
    locks: name(""),
    entries: name("_entries"),
    grant: name("_grant"),
    acquire: name("_acquire"),
    release: name("_release"),
    commit: name("_commit"),
    leave: name("_leave"),
    fence: name("_fence"),
    schema: parsed.schema === undefined ? undefined : quote(parsed.schema),
    channel: table,
    channelIdentifier: quote(table),
  };
}

/** A string literal (the names are validated identifiers, so no quote can occur; escape anyway). */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

const MS = "interval '1 millisecond'";

/**
 * The statements `ready()` runs, in one transaction, after taking a transaction-scoped advisory lock
 * keyed by the table name: concurrent `ready()` calls from many processes run one after another, and
 * each later one finds everything in place (`IF NOT EXISTS`, `CREATE OR REPLACE`).
 */
export function schemaSql(n: SqlNames): string {
  const channel = literal(n.channel);
  return `
${n.schema === undefined ? "" : `CREATE SCHEMA IF NOT EXISTS ${n.schema};`}
CREATE TABLE IF NOT EXISTS ${n.locks} (
  name text PRIMARY KEY,
  kind text NOT NULL,
  capacity integer NOT NULL,
  value text,
  seq bigint NOT NULL DEFAULT 0,
  token bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ${n.entries} (
  name text NOT NULL,
  id bigint NOT NULL,
  permits integer NOT NULL,
  exclusive boolean NOT NULL,
  ttl_ms integer NOT NULL,
  granted boolean NOT NULL DEFAULT false,
  expires_at timestamptz NOT NULL,
  client_id text,
  PRIMARY KEY (name, id)
);

-- Grant pass (the caller holds the lock row): grants un-granted live entries in id order while they
-- fit, stopping at the first that does not (FIFO; a writer or a large request at the head blocks later
-- ones). Returns how many entries other than p_except it granted (those need a wake-up).
CREATE OR REPLACE FUNCTION ${n.grant}(p_name text, p_except bigint) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  v_cap integer;
  v_used bigint;
  v_excl boolean;
  v_count integer;
  v_others integer := 0;
  r record;
BEGIN
  SELECT l.capacity INTO v_cap FROM ${n.locks} l WHERE l.name = p_name;
  SELECT coalesce(sum(e.permits), 0), coalesce(bool_or(e.exclusive), false), count(*)
    INTO v_used, v_excl, v_count
    FROM ${n.entries} e WHERE e.name = p_name AND e.granted;
  IF v_excl THEN RETURN 0; END IF;
  FOR r IN SELECT e.id, e.permits, e.exclusive, e.ttl_ms FROM ${n.entries} e
           WHERE e.name = p_name AND NOT e.granted ORDER BY e.id LOOP
    IF r.exclusive THEN
      EXIT WHEN v_count > 0;
      UPDATE ${n.locks} l SET seq = l.seq + 1, token = l.seq + 1 WHERE l.name = p_name;
    ELSE
      EXIT WHEN v_used + r.permits > v_cap;
    END IF;
    UPDATE ${n.entries} e SET granted = true, expires_at = now() + r.ttl_ms * ${MS}
      WHERE e.name = p_name AND e.id = r.id;
    IF r.id IS DISTINCT FROM p_except THEN v_others := v_others + 1; END IF;
    EXIT WHEN r.exclusive;
    v_used := v_used + r.permits;
    v_count := v_count + 1;
  END LOOP;
  IF v_others > 0 THEN PERFORM pg_notify(${channel}, p_name); END IF;
  RETURN v_others;
END
$fn$;

-- Acquire-or-enqueue (p_wait) or try-acquire (NOT p_wait), one statement. See StoreBackend.acquire.
CREATE OR REPLACE FUNCTION ${n.acquire}(
  p_name text, p_kind text, p_capacity integer, p_initial text, p_permits integer, p_exclusive boolean,
  p_ttl integer, p_queue_ttl integer, p_client text, p_id bigint, p_wait boolean)
RETURNS TABLE (o_status text, o_id bigint, o_token bigint, o_value text, o_wait_ms integer,
               o_kind text, o_capacity integer)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_lock record;
  v_entry record;
  v_wait double precision;
BEGIN
  -- A waiter picking up a grant made on its behalf, with at least half its ttl left: a read, no row
  -- lock, no write, so no WAL flush. o_wait_ms carries the ms left on the lease (started at the grant).
  IF p_wait AND p_id IS NOT NULL THEN
    RETURN QUERY SELECT 'granted'::text, p_id, l.token, l.value,
        floor(extract(epoch FROM e.expires_at - now()) * 1000)::integer, NULL::text, NULL::integer
      FROM ${n.entries} e JOIN ${n.locks} l ON l.name = e.name
      WHERE e.name = p_name AND e.id = p_id AND e.granted AND e.expires_at > now() + p_ttl / 2 * ${MS};
    IF FOUND THEN RETURN; END IF; -- else (less than half the ttl left, or not granted) the full path
  END IF;
  INSERT INTO ${n.locks} (name, kind, capacity, value) VALUES (p_name, p_kind, p_capacity, p_initial)
    ON CONFLICT (name) DO NOTHING;
  SELECT * INTO v_lock FROM ${n.locks} l WHERE l.name = p_name FOR UPDATE;
  IF v_lock.kind <> p_kind OR (NOT p_exclusive AND p_permits > v_lock.capacity) THEN
    RETURN QUERY SELECT 'mismatch'::text, NULL::bigint, NULL::bigint, NULL::text, NULL::integer,
      v_lock.kind, v_lock.capacity;
    RETURN;
  END IF;
  DELETE FROM ${n.entries} e WHERE e.name = p_name AND e.expires_at <= now();
  IF NOT p_wait THEN
    -- Grants owed to live waiters go first; then a try may only proceed when nobody waits.
    PERFORM ${n.grant}(p_name, NULL);
    IF EXISTS (SELECT 1 FROM ${n.entries} e WHERE e.name = p_name AND NOT e.granted) THEN
      RETURN QUERY SELECT 'busy'::text, NULL::bigint, NULL::bigint, NULL::text, NULL::integer, NULL::text, NULL::integer;
      RETURN;
    END IF;
    p_id := NULL;
  ELSIF p_id IS NOT NULL THEN
    UPDATE ${n.entries} e
      SET expires_at = now() + (CASE WHEN e.granted THEN p_ttl ELSE p_queue_ttl END) * ${MS}, ttl_ms = p_ttl
      WHERE e.name = p_name AND e.id = p_id;
    IF NOT FOUND THEN p_id := NULL; END IF; -- our entry's lease ran out: queue again at the back
  END IF;
  IF p_id IS NULL THEN
    UPDATE ${n.locks} l SET seq = l.seq + 1 WHERE l.name = p_name RETURNING l.seq INTO p_id;
    INSERT INTO ${n.entries} (name, id, permits, exclusive, ttl_ms, granted, expires_at, client_id)
      VALUES (p_name, p_id, p_permits, p_exclusive, p_ttl, false, now() + p_queue_ttl * ${MS}, p_client);
  END IF;
  PERFORM ${n.grant}(p_name, p_id);
  SELECT e.granted INTO v_entry FROM ${n.entries} e WHERE e.name = p_name AND e.id = p_id;
  IF v_entry.granted THEN
    UPDATE ${n.entries} e SET expires_at = now() + p_ttl * ${MS} WHERE e.name = p_name AND e.id = p_id;
    RETURN QUERY SELECT 'granted'::text, p_id, l.token, l.value, NULL::integer, NULL::text, NULL::integer
      FROM ${n.locks} l WHERE l.name = p_name;
    RETURN;
  END IF;
  IF NOT p_wait THEN
    DELETE FROM ${n.entries} e WHERE e.name = p_name AND e.id = p_id;
    RETURN QUERY SELECT 'busy'::text, NULL::bigint, NULL::bigint, NULL::text, NULL::integer, NULL::text, NULL::integer;
    RETURN;
  END IF;
  SELECT extract(epoch FROM min(e.expires_at) - now()) * 1000 INTO v_wait
    FROM ${n.entries} e WHERE e.name = p_name AND e.id <> p_id AND (e.granted OR e.id < p_id);
  RETURN QUERY SELECT 'queued'::text, p_id, NULL::bigint, NULL::text,
    greatest(0, ceil(coalesce(v_wait, p_queue_ttl)))::integer, NULL::text, NULL::integer;
END
$fn$;

-- Release, with the write-back when p_value is not null; true when the lease was held.
CREATE OR REPLACE FUNCTION ${n.release}(p_name text, p_id bigint, p_token bigint, p_value text)
RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
  v_token bigint;
  v_held boolean;
BEGIN
  SELECT l.token INTO v_token FROM ${n.locks} l WHERE l.name = p_name FOR UPDATE;
  IF NOT FOUND THEN RETURN false; END IF;
  DELETE FROM ${n.entries} e
    WHERE e.name = p_name AND e.id = p_id AND e.granted AND e.expires_at > now();
  v_held := FOUND;
  IF v_held AND p_value IS NOT NULL THEN
    IF v_token = p_token THEN
      UPDATE ${n.locks} l SET value = p_value WHERE l.name = p_name;
    ELSE
      v_held := false;
    END IF;
  END IF;
  DELETE FROM ${n.entries} e WHERE e.name = p_name AND e.expires_at <= now();
  PERFORM ${n.grant}(p_name, NULL);
  RETURN v_held;
END
$fn$;

-- Commit: writes the value when the exclusive lease is held with this token; the lock row is locked
-- first, so the check sees every grant committed before it.
CREATE OR REPLACE FUNCTION ${n.commit}(p_name text, p_id bigint, p_token bigint, p_value text)
RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM 1 FROM ${n.locks} l WHERE l.name = p_name AND l.token = p_token FOR UPDATE;
  IF NOT FOUND THEN RETURN false; END IF;
  PERFORM 1 FROM ${n.entries} e
    WHERE e.name = p_name AND e.id = p_id AND e.granted AND e.exclusive AND e.expires_at > now();
  IF NOT FOUND THEN RETURN false; END IF;
  UPDATE ${n.locks} l SET value = p_value WHERE l.name = p_name;
  RETURN true;
END
$fn$;

-- Leave the queue (or give back a grant that raced with an abort).
CREATE OR REPLACE FUNCTION ${n.leave}(p_name text, p_id bigint) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM 1 FROM ${n.locks} l WHERE l.name = p_name FOR UPDATE;
  IF NOT FOUND THEN RETURN; END IF;
  DELETE FROM ${n.entries} e WHERE e.name = p_name AND (e.id = p_id OR e.expires_at <= now());
  PERFORM ${n.grant}(p_name, NULL);
END
$fn$;

-- The fence of guard.transaction(): inside the caller's transaction, lock the lock row (no new grant
-- until the transaction ends) and confirm the lease is held with this token.
CREATE OR REPLACE FUNCTION ${n.fence}(p_name text, p_id bigint, p_token bigint) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM 1 FROM ${n.locks} l WHERE l.name = p_name AND l.token = p_token FOR UPDATE;
  IF NOT FOUND THEN RETURN false; END IF;
  PERFORM 1 FROM ${n.entries} e
    WHERE e.name = p_name AND e.id = p_id AND e.granted AND e.expires_at > clock_timestamp();
  RETURN FOUND;
END
$fn$;
`;
}
