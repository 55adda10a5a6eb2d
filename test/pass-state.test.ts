// The pass state's next-eta read: it visits every pending row without the eta helper index, so it runs
// only while root has room. A full root is woken by the NOTIFY of the job that frees it, whose pass
// reads the eta again; these pin both halves on what the pass decided (its wakeAt), not on timings.
import { describe, expect, it } from 'vitest';
import { channelTree, parseChannels } from '../shared/channels.ts';
import { claimPass } from '../shared/claim.ts';
import { DirectTransport } from '../shared/direct.ts';
import { useStandin } from './support/fixture.ts';
import { createJob, createJobs, getJob } from './support/jobs.ts';

const fixture = useStandin();

describe('next eta in the pass state', () => {
  it('is not read while root is full, and is read again once a running job frees root', async () => {
    const transport = new DirectTransport(fixture.db.url);
    try {
      const tree = channelTree(parseChannels('root:2'));
      const running = await createJobs(fixture.db.pool, 2, { state: 'started' });
      const later = await createJob(fixture.db.pool, { eta: 600 });
      const eta = (await getJob(fixture.db.pool, later.uuid))!.eta!.getTime();

      const full = await claimPass(transport, tree);
      expect(full.claimed).toEqual([]);
      expect(full.wakeAt).toBeNull();

      await fixture.db.pool.query(`UPDATE queue_job SET state = 'done' WHERE uuid = $1`, [running[0]]);
      const room = await claimPass(transport, tree);
      expect(room.claimed).toEqual([]);
      // The database keeps microseconds; a JS Date, milliseconds.
      expect(Math.floor(room.wakeAt!)).toBe(eta);
    } finally {
      await transport.close();
    }
  });
});
