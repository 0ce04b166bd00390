import type { TransitionStorageClass } from '../config/storage-classes';

/**
 * The list prices the synth-time estimate assumes: US East (N. Virginia), in USD, as published
 * on the AWS pricing pages in December 2026. Other regions differ by up to about 10% (Frankfurt's
 * S3 Standard is $0.0245); taxes and free tiers are left out, except where noted.
 */
export const PRICES_AS_OF = '2026-12 (us-east-1 list prices, USD)';

export const PRICES = {
  /** CloudWatch: per alarm metric per month (an alarm on a math expression pays for each metric in it). */
  alarmMetric: 0.1,
  /** CloudWatch: per custom metric per month (the first 10,000), prorated by the hours it receives data in. */
  customMetric: 0.3,
  /** CloudWatch: per composite alarm per month. */
  compositeAlarm: 0.5,
  /** CloudWatch: per dashboard per month (the first three of an account are free). */
  dashboard: 3,
  /** KMS: per customer managed key per month (its requests are charged apart, and are few here). */
  kmsKey: 1,
  /** S3 Replication Time Control: per GB replicated, on top of the inter-region transfer. */
  replicationTimeControlPerGb: 0.015,
  /** S3: inter-region data transfer per GB (the replica's copy of every backup). */
  interRegionTransferPerGb: 0.02,
  /** S3 storage per GB-month, by class (the first 50 TB). */
  storagePerGbMonth: {
    STANDARD: 0.023,
    STANDARD_IA: 0.0125,
    ONEZONE_IA: 0.01,
    INTELLIGENT_TIERING: 0.023,
    GLACIER_IR: 0.004,
    GLACIER: 0.0036,
    DEEP_ARCHIVE: 0.00099,
  } satisfies Record<TransitionStorageClass | 'STANDARD', number>,
} as const;
