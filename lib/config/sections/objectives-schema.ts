import { z } from 'zod';

/** Recovery objectives of one protected thing; each field defaults to the seeds' practice for what it holds (contracts/objectives.ts). */
export const objectivesSchema = z
  .strictObject({
    /** The most data a restore may lose, in hours: the newest usable backup may be at most this old. */
    rpoHours: z.number().positive().max(24 * 400).optional(),
    /** The longest a restore may take, in hours, as the drills measure it. */
    rtoHours: z.number().positive().max(24 * 30).optional(),
  })
  .optional();
export type ObjectivesConfig = z.infer<typeof objectivesSchema>;

