// The database's own record of every claim: a trigger logs each pending → enqueued move with the id
// and the clock (now(), the transaction's start) of the transaction that made it. One claim pass is one
// transaction, and its now() is the clock the runner planned with, so tests can assert on what the
// runner decided (which pass took which job, at what database time) instead of on arrival times at
// the stand-in, which a loaded machine stretches and squeezes.
import type { Queryable } from './jobs.ts';

export interface Claim {
  uuid: string;
  /** The claiming transaction (one claim pass). */
  pass: string;
  /** The pass's database clock, epoch microseconds (exact; an epoch in µs fits a double). */
  atUs: number;
}

/** Installs the claim log on this database (idempotent); it records claims from then on. */
export async function recordClaims(db: Queryable): Promise<void> {
  await db.query(`CREATE TABLE IF NOT EXISTS test_claim_log (
    uuid varchar NOT NULL, pass xid8 NOT NULL, at timestamptz NOT NULL)`);
  await db.query(`CREATE OR REPLACE FUNCTION test_claim_log() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO test_claim_log (uuid, pass, at) VALUES (NEW.uuid, pg_current_xact_id(), now());
      RETURN NULL;
    END $$`);
  await db.query(`CREATE OR REPLACE TRIGGER test_claim_log AFTER UPDATE OF state ON queue_job
    FOR EACH ROW WHEN (OLD.state = 'pending' AND NEW.state = 'enqueued') EXECUTE FUNCTION test_claim_log()`);
}

/** Claims logged so far (of `uuids` only, when given), in claim order. */
export async function claims(db: Queryable, uuids?: readonly string[]): Promise<Claim[]> {
  const { rows } = await db.query(
    `SELECT uuid, pass::text AS pass, (extract(epoch FROM at) * 1000000)::bigint::text AS at_us
     FROM test_claim_log WHERE $1::text[] IS NULL OR uuid = ANY($1::text[]) ORDER BY at, pass, uuid`,
    [uuids ?? null],
  );
  return rows.map((row: { uuid: string; pass: string; at_us: string }) => ({
    uuid: row.uuid,
    pass: row.pass,
    atUs: Number(row.at_us),
  }));
}

/** Forgets every logged claim (between tests sharing a database). */
export async function clearClaims(db: Queryable): Promise<void> {
  await db.query('TRUNCATE test_claim_log');
}

/** Claims grouped by pass, in pass order: each pass's clock and the uuids it took. */
export function passesOf(logged: readonly Claim[]): { pass: string; atUs: number; uuids: string[] }[] {
  const byPass = new Map<string, { pass: string; atUs: number; uuids: string[] }>();
  for (const claim of logged) {
    const entry = byPass.get(claim.pass) ?? { pass: claim.pass, atUs: claim.atUs, uuids: [] };
    entry.uuids.push(claim.uuid);
    byPass.set(claim.pass, entry);
  }
  return [...byPass.values()].sort((a, b) => a.atUs - b.atUs);
}
