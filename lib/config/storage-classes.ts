/** S3 storage classes a lifecycle rule can transition to, with the rules S3 puts on them. */
export const TRANSITION_STORAGE_CLASSES = [
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
] as const;

export type TransitionStorageClass = (typeof TRANSITION_STORAGE_CLASSES)[number];

/**
 * Minimum storage duration S3 bills for each class: deleting or moving an object earlier is
 * charged as if it had stayed this long.
 */
export const MIN_STORAGE_DAYS: Readonly<Record<TransitionStorageClass, number>> = {
  STANDARD_IA: 30,
  ONEZONE_IA: 30,
  INTELLIGENT_TIERING: 0,
  GLACIER_IR: 90,
  GLACIER: 90,
  DEEP_ARCHIVE: 180,
};

/**
 * S3 refuses a lifecycle transition into these classes before an object is 30 days old,
 * and refuses the next transition out of them until 30 more days have passed.
 */
export const THIRTY_DAY_CLASSES: ReadonlySet<TransitionStorageClass> = new Set<TransitionStorageClass>([
  'STANDARD_IA',
  'ONEZONE_IA',
]);

/** Classes after which S3 requires 30 more days before the next lifecycle transition. */
export const NEXT_TRANSITION_GAP_CLASSES: ReadonlySet<TransitionStorageClass> = new Set<TransitionStorageClass>([
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
]);
