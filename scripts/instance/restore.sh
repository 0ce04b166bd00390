#!/usr/bin/env bash
# Restores one backup of a target on this instance. It fetches the backup's manifest and the
# backup, checks SHA-256 and size against the manifest before touching anything, then:
#   RS_MODE=scratch  restores into a new database or a side path; live data is never touched.
#   RS_MODE=replace  takes a safety backup of the live data through backup.sh, restores into a
#                    new database / a temporary path on the same file system, and swaps it in
#                    only when complete (the old data is kept aside, never deleted).
# Every restore checks the restored copy against the manifest before putting it in place or
# reporting it (tables and row counts, SQLite integrity, file count and bytes): a copy that
# differs fails the restore, and a replace keeps the live data. With RS_DRILL=1 (scratch only)
# it records those checks and more (probes, sampled checksums), removes the copy and prints a
# DRILL_RESULT line. On any failure it exits non-zero and live data is as it was.
#
# Settings (environment; the SSM document exports them from its parameters):
#   BK_TARGET, BK_KIND (postgres|mysql|sqlite|files), BK_BUCKET, BK_REGION
#   postgres/mysql: BK_DB_HOST, BK_DB_PORT, BK_DB_NAME, BK_DB_USER,
#                   BK_PASSWORD_SSM_PARAMETER or BK_PASSWORD_SECRET_ID
#                   RS_DB_USER + RS_PASSWORD_SSM_PARAMETER / RS_PASSWORD_SECRET_ID: a role that may
#                   create databases, when the backup user may not (default: the BK_ ones)
#   sqlite/files:   BK_PATH; files may name several paths instead: BK_PATHS, ':' separated
#   RS_MODE         scratch | replace | check (what the instance lacks for a restore; changes nothing)
#   RS_KEY          the backup's object key; or
#   RS_BEFORE       ISO 8601 time with zone: the newest backup that started at or before it;
#                   neither: the newest backup whose verification verdict passed
#   RS_KEY_VERSION_ID, RS_MANIFEST_VERSION_ID  the versions to read (the restore function passes
#                   the verified ones); neither: the passing verdict's, else the first version of each
#   RS_EXPECTED_SHA256  the SHA-256 that was verified: the manifest must state it
#   RS_TIERS        tiers to search, space or comma separated (default: every tier prefix in the bucket)
#   RS_SCRATCH_NAME scratch database name (default <db>_restore_<UTC stamp>); never a system
#                   database, the live one or one of RS_PROTECTED_DATABASES
#   RS_PROTECTED_DATABASES  space separated: other targets' databases a scratch name must not take
#   RS_SCRATCH_ROOT sqlite/files: the only place scratch copies go (default
#                   /var/tmp/backup-kit-restore/<target>); created 0700 by this script, and every
#                   directory above it must be root's and not writable by others (sticky excepted)
#   RS_SCRATCH_PATH scratch path for sqlite/files, inside RS_SCRATCH_ROOT (default
#                   <root>/<name of the live path>.restore-<UTC stamp>)
#   RS_CONFIRM      replace only: must equal BK_TARGET
#   RS_SAFETY_TIER  replace only: tier of the safety backup; BK_KMS_KEY_ID, BK_RETENTION_DAYS and
#                   BK_OBJECT_LOCK_MODE (that tier's lock) are passed to backup.sh with it
#   RS_DRILL        1: check, remove the scratch copy, print DRILL_RESULT
#   RS_DRILL_PROBES base64 of a JSON array of SQL statements that must each return a row whose
#                   first value is true (postgres/mysql drills)
#   RS_DRILL_SAMPLE files drills: how many files to compare with the archive (default 50)
#   RS_WORK_DIR     where the backup is downloaded (default /var/tmp)
# Output: logs on stderr; on stdout only `RESTORE_RESULT {json}` (and `DRILL_RESULT {json}`).
# Exit codes: 0 ok, 2 bad input, 3 credentials, 4 restore failed, 5 backup not found or not
# downloadable, 7 backup does not match its manifest, 8 safety backup failed, 9 drill check
# failed, 10 swap failed (live data unchanged), 11 the restored copy does not match the manifest
# (nothing put in place).
set -euo pipefail
set +x # never trace: a trace would print the database password
umask 077

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export LOG_TAG=restore
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$script_dir/common.sh"
# shellcheck source-path=SCRIPTDIR source=restore-database.sh
. "$script_dir/restore-database.sh"
# shellcheck source-path=SCRIPTDIR source=restore-path.sh
. "$script_dir/restore-path.sh"
# shellcheck source-path=SCRIPTDIR source=restore-checks.sh
. "$script_dir/restore-checks.sh"
# shellcheck source-path=SCRIPTDIR source=restore-preflight.sh
. "$script_dir/restore-preflight.sh"

# Restore's stages, by exit code (2 and 3 mean what they mean for backups).
readonly E_INPUT=$EXIT_BAD_INPUT E_CREDENTIALS=$EXIT_CREDENTIALS E_RESTORE=4 E_FETCH=5 E_INTEGRITY=7 E_SAFETY=8 E_DRILL=9 E_SWAP=10 E_MISMATCH=11
stage_name() {
  case "$1" in
    "$E_INPUT") echo input ;;
    "$E_CREDENTIALS") echo credentials ;;
    "$E_RESTORE") echo restore ;;
    "$E_FETCH") echo fetch ;;
    "$E_INTEGRITY") echo integrity ;;
    "$E_SAFETY") echo safety-backup ;;
    "$E_DRILL") echo drill-check ;;
    "$E_SWAP") echo swap ;;
    "$E_MISMATCH") echo check ;;
    *) echo "exit $1" ;;
  esac
}

require_setting() { # require_setting <variable> <pattern> [max characters, default 255]
  local value="${!1:-}"
  [ -n "$value" ] || fail "$E_INPUT" "$1 is required but not set"
  matches_within "$value" "$2" "${3:-255}" || fail "$E_INPUT" "$1 '$value' is not valid (must match $2, ${3:-255} characters at most)"
}
extension_of_kind() {
  case "$1" in postgres) echo pgdump.gz ;; mysql) echo sql.gz ;; sqlite) echo sqlite.gz ;; files) echo tar.gz ;; esac
}
# <base><suffix>, the base shortened so that the name fits the 63 characters databases allow.
derived_name() { printf '%s%s\n' "${1:0:$((63 - ${#2}))}" "$2"; }

# DB_PASSWORD for the restoring role: RS_DB_USER's own source when given, else the backup user's.
fetch_db_password() {
  if [ -n "${RS_DB_USER:-}" ]; then
    [ -n "${RS_PASSWORD_SSM_PARAMETER:-}${RS_PASSWORD_SECRET_ID:-}" ] || fail "$E_INPUT" "RS_DB_USER needs RS_PASSWORD_SSM_PARAMETER or RS_PASSWORD_SECRET_ID"
    fetch_password "${RS_PASSWORD_SSM_PARAMETER:-}" "${RS_PASSWORD_SECRET_ID:-}"
  else
    [ -n "${BK_PASSWORD_SSM_PARAMETER:-}${BK_PASSWORD_SECRET_ID:-}" ] || fail "$E_INPUT" "BK_PASSWORD_SSM_PARAMETER or BK_PASSWORD_SECRET_ID is required"
    fetch_password "${BK_PASSWORD_SSM_PARAMETER:-}" "${BK_PASSWORD_SECRET_ID:-}"
  fi
}
# Databases a scratch restore never takes the name of (the contract's SYSTEM_DATABASES).
system_databases() {
  case "$1" in
    postgres) echo postgres template0 template1 ;;
    mysql) echo mysql information_schema performance_schema sys ;;
  esac
}
# Paths are taken only in plain form: no '.', '..' or empty segment can walk around a check.
clean_path() { # clean_path <setting> <path>
  case "$2/" in
    *//* | */./* | */../*) fail "$E_INPUT" "$1 '$2' has an empty, '.' or '..' segment; give the plain absolute path" ;;
  esac
}
within() { # within <path> <directory>: true when path is the directory or below it
  [ "$2" = / ] || case "$1/" in "$2/"*) return 0 ;; *) return 1 ;; esac
}
# The directories from / down to <dir> that exist must be real directories owned by root (or
# this user) and not writable by group or others; sticky ones (/tmp, /var/tmp) are allowed
# above <dir> itself (and as <dir> with sticky-ok), since nobody else can rename what root made
# in them.
check_owned_path() { # check_owned_path <setting> <canonical dir> [sticky-ok]
  local path='' part uid mode type
  local -a parts
  IFS=/ read -r -a parts <<<"${2#/}"
  for part in '' "${parts[@]}"; do
    path="${path%/}/$part"
    [ -e "$path" ] || [ -L "$path" ] || return 0
    read -r uid mode type < <(stat -c '%u %a %F' -- "$path")
    [ "$type" = directory ] || fail "$E_INPUT" "$1: $path is a $type, not a directory"
    [ "$uid" = 0 ] || [ "$uid" = "$EUID" ] || fail "$E_INPUT" "$1: $path belongs to user $uid, who could redirect the restore; it must be root's"
    if (((8#$mode & 8#022) != 0)) && { { [ "$path" = "$2" ] && [ "${3:-}" != sticky-ok ]; } || (((8#$mode & 8#1000) == 0)); }; then
      fail "$E_INPUT" "$1: $path is writable by other users (mode $mode), who could redirect the restore"
    fi
  done
}

json_bool() { if [ "$1" = 1 ]; then echo true; else echo false; fi; }

started_ms="$(now_ms)"
utc_format stamp %Y%m%d%H%M%S -1
# What the cleanup must undo if the run stops early: a half-made scratch or incoming copy.
pending_db='' drill_copy='' stage='' in_stage=0 swap_begun=0 swapped=0 reenable_db='' path_set=0

restore_cleanup() {
  local status=$?
  set +e
  if [ -n "$reenable_db" ]; then pg_admin -c "ALTER DATABASE \"$reenable_db\" ALLOW_CONNECTIONS true" >/dev/null 2>&1; fi
  if [ -n "$drill_copy" ]; then remove_copy "$drill_copy"; fi
  if [ "$swapped" = 0 ] && [ -n "$pending_db" ]; then
    log_info "removing the incomplete database $pending_db"
    drop_database "$pending_db"
  fi
  if [ "$in_stage" = 1 ]; then
    log_info "removing the staging directory $stage"
    leave_stage
  fi
  (exit "$status")
  cleanup
}

# ------------------------------------------------------------------ settings

require_setting BK_TARGET '^[a-z][a-z0-9-]{0,39}$'
require_setting BK_KIND '^(postgres|mysql|sqlite|files)$'
require_setting BK_BUCKET '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'
require_setting RS_MODE '^(scratch|replace|check)$'
drill="${RS_DRILL:-0}"
[[ "$drill" =~ ^[01]$ ]] || fail "$E_INPUT" "RS_DRILL must be 0 or 1 (got '$drill')"
if [ "$drill" = 1 ] && [ "$RS_MODE" != scratch ]; then fail "$E_INPUT" "RS_DRILL=1 needs RS_MODE=scratch: a drill never touches live data"; fi
if [ "$RS_MODE" = replace ]; then
  [ "${RS_CONFIRM:-}" = "$BK_TARGET" ] || fail "$E_INPUT" "RS_MODE=replace overwrites live data: RS_CONFIRM must equal the target name '$BK_TARGET'"
  require_setting RS_SAFETY_TIER '^[a-z][a-z0-9-]{0,23}$'
fi
if [ -n "${RS_KEY:-}" ] && [ -n "${RS_BEFORE:-}" ]; then fail "$E_INPUT" "give RS_KEY or RS_BEFORE, not both"; fi
ext="$(extension_of_kind "$BK_KIND")"

case "$BK_KIND" in
  postgres | mysql)
    require_setting BK_DB_HOST '^[A-Za-z0-9:][A-Za-z0-9.:-]{0,252}$'
    if [ "$BK_KIND" = postgres ]; then BK_DB_PORT="${BK_DB_PORT:-5432}"; else BK_DB_PORT="${BK_DB_PORT:-3306}"; fi
    require_setting BK_DB_PORT '^[1-9][0-9]{0,4}$'
    require_setting BK_DB_NAME '^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$'
    db_user="${RS_DB_USER:-${BK_DB_USER:-}}"
    [[ "$db_user" =~ ^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,62}$ ]] || fail "$E_INPUT" "BK_DB_USER (or RS_DB_USER) must be a database user name"
    scratch_db="${RS_SCRATCH_NAME:-$(derived_name "$BK_DB_NAME" "_restore_$stamp")}"
    [[ "$scratch_db" =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$ ]] || fail "$E_INPUT" "RS_SCRATCH_NAME must be 1-63 letters, digits, _ and - (got '$scratch_db')"
    [[ "${RS_PROTECTED_DATABASES:-}" =~ ^[A-Za-z0-9_\ -]*$ ]] || fail "$E_INPUT" "RS_PROTECTED_DATABASES must be database names separated by spaces"
    # Compared without case: MySQL on some file systems folds names, and a near-miss is a typo.
    for protected in $(system_databases "$BK_KIND") "$BK_DB_NAME" ${RS_PROTECTED_DATABASES:-}; do
      [ "${scratch_db,,}" != "${protected,,}" ] || fail "$E_INPUT" "RS_SCRATCH_NAME '$scratch_db' is a system, live or other target's database ($protected); a scratch restore only creates a new one"
    done
    ;;
  sqlite | files) path_settings ;;
esac
for tool in aws gzip sha256sum; do require_command "$E_INPUT" "$tool" 'restores need it'; done
pick_json_reader

# ------------------------------------------------------------------ choosing the backup

key_pattern="^[a-z][a-z0-9-]{0,23}/$BK_TARGET/[0-9]{4}/[0-9]{2}/[0-9]{2}/${BK_TARGET}_[0-9]{8}T[0-9]{6}Z\\.${ext//./\\.}\$"

# Every backup key of the target with a manifest, newest first (by the key's UTC stamp).
backups_newest_first() {
  local tiers tier listing
  if [ -n "${RS_TIERS:-}" ]; then
    tiers="${RS_TIERS//,/ }"
  else
    tiers="$(aws_cli s3api list-objects-v2 --bucket "$BK_BUCKET" --delimiter / --query 'CommonPrefixes[].Prefix' --output text)" ||
      fail "$E_FETCH" "cannot list the tiers of s3://$BK_BUCKET (set RS_TIERS, or allow s3:ListBucket)"
    tiers="$(printf '%s' "$tiers" | tr '\t' '\n' | sed -n 's#/$##p')"
  fi
  for tier in $tiers; do
    [[ "$tier" =~ ^[a-z][a-z0-9-]{0,23}$ ]] || continue
    listing="$(aws_cli s3api list-objects-v2 --bucket "$BK_BUCKET" --prefix "$tier/$BK_TARGET/" --query 'Contents[].Key' --output text)" ||
      fail "$E_FETCH" "cannot list s3://$BK_BUCKET/$tier/$BK_TARGET/"
    printf '%s\n' "$listing" | tr '\t' '\n'
  done | KEY_PATTERN="$key_pattern" awk '
    /\.manifest\.json$/ { manifests[substr($0, 1, length($0) - 14)] = 1; next }
    $0 ~ ENVIRON["KEY_PATTERN"] { keys[$0] = 1 }
    END { for (key in keys) if (key in manifests) { n = split(key, parts, "_"); print parts[n] "\t" key } }
  ' | sort -r | cut -f2
}

resolve_key() {
  local candidate before_stamp
  if [ -n "${RS_KEY:-}" ]; then
    [[ "$RS_KEY" =~ $key_pattern ]] || fail "$E_INPUT" "RS_KEY '$RS_KEY' is not a $BK_KIND backup key of target $BK_TARGET (<tier>/$BK_TARGET/YYYY/MM/DD/${BK_TARGET}_<stamp>.$ext)"
    printf '%s\n' "$RS_KEY"
    return
  fi
  if [ -n "${RS_BEFORE:-}" ]; then
    [[ "$RS_BEFORE" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})$ ]] ||
      fail "$E_INPUT" "RS_BEFORE must be an ISO 8601 time with a zone, e.g. 2026-11-21T14:06:00Z (got '$RS_BEFORE')"
    before_stamp="$(date -u -d "$RS_BEFORE" +%Y%m%dT%H%M%SZ)" || fail "$E_INPUT" "RS_BEFORE '$RS_BEFORE' is not a valid time"
    candidate="$(backups_newest_first | awk -v limit="$before_stamp" '{ n = split($0, p, "_"); s = substr(p[n], 1, 16); if (s <= limit) { print; exit } }')"
    [ -n "$candidate" ] || fail "$E_FETCH" "no complete backup of $BK_TARGET started at or before $RS_BEFORE"
    printf '%s\n' "$candidate"
    return
  fi
  local checked=0
  while IFS= read -r candidate; do
    [ -n "$candidate" ] || continue
    checked=$((checked + 1))
    [ "$checked" -le 20 ] || break
    if read_passing_verdict "$candidate"; then
      printf '%s\n' "$candidate"
      return
    fi
    log_info "skipping $candidate: no passing verification verdict"
  done < <(backups_newest_first)
  fail "$E_FETCH" "no verified backup of $BK_TARGET among the newest $((checked < 20 ? checked : 20)); give RS_KEY to restore an unverified one"
}

# ------------------------------------------------------------------ which versions to read

# Verdicts are written by the verifier only, under verdicts/<key>/<time>.json (a prefix no
# instance can write); the newest one counts. Backups are written once, so the first version of
# the backup and of its manifest is what the script wrote; the verdict pins the ones verified.
readonly VERSION_ID_PATTERN='^[A-Za-z0-9._+=/-]+$'
verdict_file=''

# The fields of $verdict_file that count, read by one process (all empty when it cannot be read).
verdict_passed='' verdict_key='' verdict_bucket='' verdict_version='' verdict_manifest_version='' verdict_sha='' verdict_replica=''
load_verdict() {
  verdict_passed='' verdict_key='' verdict_bucket='' verdict_version='' verdict_manifest_version='' verdict_sha='' verdict_replica=''
  [ -s "$verdict_file" ] && json_fields "$verdict_file" passed key bucket versionId manifestVersionId sha256 replicaBucket || return 1
  verdict_passed=${JSON_FIELDS[0]} verdict_key=${JSON_FIELDS[1]} verdict_bucket=${JSON_FIELDS[2]}
  verdict_version=${JSON_FIELDS[3]} verdict_manifest_version=${JSON_FIELDS[4]} verdict_sha=${JSON_FIELDS[5]} verdict_replica=${JSON_FIELDS[6]}
}

# True when $verdict_file holds a passing verdict about <key> in this bucket (or in its source,
# found replicated here with the same versions: a restore from the DR region's replica).
verdict_passes_for() { # verdict_passes_for <key>
  load_verdict && [ "$verdict_passed" = true ] && [ "$verdict_key" = "$1" ] && { [ "$verdict_bucket" = "$BK_BUCKET" ] || [ "$verdict_replica" = "$BK_BUCKET" ]; }
}

# Fetches the newest verdict of <key> into $verdict_file; true when it passed and is about <key>.
read_passing_verdict() { # read_passing_verdict <key>
  local newest
  rm -f -- "$verdict_file"
  newest="$(aws_cli s3api list-objects-v2 --bucket "$BK_BUCKET" --prefix "verdicts/$1/" --query 'Contents[].Key' --output text 2>/dev/null |
    tr '\t' '\n' | grep -E '^verdicts/.+/[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.json$' | sort | tail -n 1 || true)"
  [ -n "$newest" ] || return 1
  aws_cli s3 cp --only-show-errors "s3://$BK_BUCKET/$newest" "$verdict_file" 2>/dev/null || return 1
  verdict_passes_for "$1"
}

# The version IDs of <key> in a "key<TAB>version" listing, oldest first (S3 lists them newest first).
versions_of() { # versions_of <listing> <key>
  printf '%s\n' "$1" | awk -F '\t' -v key="$2" '$1 == key { print $2 }' | tac
}

# Sets key_version, manifest_version and verified_sha: given by the sender (what was verified), or
# from the key's passing verdict, or the first version of each.
pin_versions() {
  key_version="${RS_KEY_VERSION_ID:-}" manifest_version="${RS_MANIFEST_VERSION_ID:-}" verified_sha="${RS_EXPECTED_SHA256:-}"
  if [ -n "$key_version" ] || [ -n "$manifest_version" ]; then
    if [ -z "$key_version" ] || [ -z "$manifest_version" ]; then fail "$E_INPUT" "RS_KEY_VERSION_ID and RS_MANIFEST_VERSION_ID go together"; fi
    pinned_from=sender
  elif verdict_passes_for "$key" || read_passing_verdict "$key"; then
    # The verdict that chose the newest verified backup is in hand already; else it is read now.
    key_version=$verdict_version manifest_version=$verdict_manifest_version verified_sha=$verdict_sha
    pinned_from=verdict
  fi
  if [ -z "$key_version" ] || [ -z "$manifest_version" ]; then
    local listing backup_versions manifest_versions
    # One listing holds both: the manifest's key starts with the backup's.
    listing="$(aws_cli s3api list-object-versions --bucket "$BK_BUCKET" --prefix "$key" --query 'Versions[].[Key, VersionId]' --output text)" ||
      fail "$E_FETCH" "cannot list the versions of s3://$BK_BUCKET/$key (the restore policy allows s3:ListBucketVersions)"
    backup_versions="$(versions_of "$listing" "$key")"
    manifest_versions="$(versions_of "$listing" "$key.manifest.json")"
    key_version="$(printf '%s\n' "$backup_versions" | head -n 1)"
    manifest_version="$(printf '%s\n' "$manifest_versions" | head -n 1)"
    [ -n "$manifest_version" ] || fail "$E_FETCH" "s3://$BK_BUCKET/$key has no manifest: a backup without a manifest is incomplete"
    [ -n "$key_version" ] || fail "$E_FETCH" "no object s3://$BK_BUCKET/$key"
    if [ "$(printf '%s\n' "$backup_versions" | grep -c .)" -gt 1 ] || [ "$(printf '%s\n' "$manifest_versions" | grep -c .)" -gt 1 ]; then
      log_warn "$key or its manifest was written over after the backup: restoring the first version of each, which the backup script wrote"
    fi
    pinned_from='first version'
  fi
  matches_within "$key_version" "$VERSION_ID_PATTERN" 1024 || fail "$E_INPUT" "the version ID of $key is not valid ('$key_version')"
  matches_within "$manifest_version" "$VERSION_ID_PATTERN" 1024 || fail "$E_INPUT" "the version ID of $key.manifest.json is not valid ('$manifest_version')"
  [ -z "$verified_sha" ] || [[ "$verified_sha" =~ ^[0-9a-f]{64}$ ]] || fail "$E_INPUT" "RS_EXPECTED_SHA256 must be 64 hex digits (got '$verified_sha')"
}

get_version() { # get_version <key> <version id> <file>
  aws_cli s3api get-object --bucket "$BK_BUCKET" --key "$1" --version-id "$2" "$3" >/dev/null
}

# ------------------------------------------------------------------ fetching and checking

# The download lands in a private directory made there: no other user may be able to swap it.
work_parent="$(realpath -e -- "${RS_WORK_DIR:-/var/tmp}" 2>/dev/null)" || fail "$E_INPUT" "RS_WORK_DIR '${RS_WORK_DIR:-/var/tmp}' does not exist"
check_owned_path RS_WORK_DIR "$work_parent" sticky-ok
TMPDIR="$work_parent" make_work_dir
trap restore_cleanup EXIT
work_dir="$WORK_DIR"
verdict_file="$work_dir/verdict.json"
key="$(resolve_key)"
key_version='' manifest_version='' verified_sha='' pinned_from=''
pin_versions
log_info "backup: s3://$BK_BUCKET/$key version $key_version, manifest version $manifest_version ($pinned_from; mode $RS_MODE$([ "$drill" = 1 ] && echo ', drill'))"
manifest="$work_dir/manifest.json"
get_version "$key.manifest.json" "$manifest_version" "$manifest" >&2 ||
  fail "$E_FETCH" "cannot fetch version $manifest_version of the manifest s3://$BK_BUCKET/$key.manifest.json: a backup without a manifest is incomplete"
# The manifest's fields, read once (this version of it never changes); all empty when it is not JSON.
json_fields "$manifest" sha256 bytes manifestVersion kind target key content.sha256 database.tableCount \
  files.fileCount files.totalBytes files.directoryCount files.symlinkCount files.index.sha256 files.index.count files.paths || true
expected_sha=${JSON_FIELDS[0]:-} expected_bytes=${JSON_FIELDS[1]:-} expected_content_sha=${JSON_FIELDS[6]:-}
manifest_table_count=${JSON_FIELDS[7]:-} manifest_file_count=${JSON_FIELDS[8]:-} manifest_total_bytes=${JSON_FIELDS[9]:-}
manifest_directory_count=${JSON_FIELDS[10]:-} manifest_symlink_count=${JSON_FIELDS[11]:-}
manifest_index_sha=${JSON_FIELDS[12]:-} manifest_index_count=${JSON_FIELDS[13]:-} manifest_paths=${JSON_FIELDS[14]:-}
if [ -n "$verified_sha" ] && [ "$expected_sha" != "$verified_sha" ]; then
  fail "$E_INTEGRITY" "REFUSED: the manifest of $key states sha256 $expected_sha, not the $verified_sha that was verified; nothing was touched"
fi
if [ "${JSON_FIELDS[2]:-}" != 1 ] || [ "${JSON_FIELDS[3]:-}" != "$BK_KIND" ] || [ "${JSON_FIELDS[4]:-}" != "$BK_TARGET" ] || [ "${JSON_FIELDS[5]:-}" != "$key" ] ||
  ! [[ "$expected_sha" =~ ^[0-9a-f]{64}$ ]] || ! [[ "$expected_bytes" =~ ^[0-9]+$ ]]; then
  fail "$E_INTEGRITY" "the manifest of $key does not describe this $BK_KIND backup of $BK_TARGET"
fi
if [ "$RS_MODE" = check ]; then
  preflight
  exit 0
fi
free_kb="$(df -Pk "$work_dir" | awk 'NR == 2 { print $4 }')"
if [ "$((free_kb * 1024))" -lt "$expected_bytes" ]; then
  fail "$E_FETCH" "$work_dir has $((free_kb / 1024)) MiB free; the backup needs $((expected_bytes / 1048576)) MiB (set RS_WORK_DIR)"
fi

fetch_started_ms="$(now_ms)"
backup_file="$work_dir/backup.$ext"
get_version "$key" "$key_version" "$backup_file" >&2 || fail "$E_FETCH" "cannot download version $key_version of s3://$BK_BUCKET/$key"
actual_bytes="$(stat -c %s "$backup_file")"
actual_sha="$(sha256_stdin <"$backup_file")"
if [ "$actual_bytes" != "$expected_bytes" ] || [ "$actual_sha" != "$expected_sha" ]; then
  fail "$E_INTEGRITY" "REFUSED: the backup does not match its manifest (bytes $actual_bytes vs $expected_bytes, sha256 $actual_sha vs $expected_sha); nothing was touched. Pick another backup (RS_KEY) and report this one."
fi
# One pass over what it decompresses to: gzip checks its own CRC, and the dump's SHA-256 is
# compared with the content digest the backup script took before compressing it.
content_sha="$(gzip -dc "$backup_file" 2>/dev/null | sha256_stdin)" ||
  fail "$E_INTEGRITY" "REFUSED: the backup matches its manifest but does not decompress cleanly; nothing was touched"
if [ -z "$expected_content_sha" ]; then
  log_info "the manifest has no content digest (an older backup script): the restored copy is checked against its counts only"
elif [ "$content_sha" != "$expected_content_sha" ]; then
  fail "$E_INTEGRITY" "REFUSED: the backup decompresses to a dump other than the one the backup script read (sha256 $content_sha, the manifest's content digest $expected_content_sha); nothing was touched. Pick another backup (RS_KEY) and report this one."
fi
log_info "checked: $actual_bytes bytes, sha256 $actual_sha matches the manifest$([ -n "$expected_content_sha" ] && echo ', and so does the dump inside') (download $(seconds_since "$fetch_started_ms") s)"

# ------------------------------------------------------------------ the safety backup

safety_key='' safety_paths=''
safety_backup() {
  local output line
  log_info "replace: taking a safety backup of the live data in tier $RS_SAFETY_TIER"
  # Several paths: the ones that exist here (a rebuilt server may lack some).
  if ! output="$(BK_TIER="$RS_SAFETY_TIER" BK_PATHS="${safety_paths:-${BK_PATHS:-}}" bash "$script_dir/backup.sh")"; then
    fail "$E_SAFETY" "the safety backup failed, so nothing was restored and live data is as it was"
  fi
  line="$(printf '%s\n' "$output" | grep '^BACKUP_RESULT ' | tail -n 1 || true)"
  printf '%s' "${line#BACKUP_RESULT }" >"$work_dir/safety.json"
  safety_key=''
  if json_fields "$work_dir/safety.json" key; then safety_key=${JSON_FIELDS[0]}; fi
  [ -n "$safety_key" ] || fail "$E_SAFETY" "the safety backup reported no key, so nothing was restored"
  log_info "safety backup: s3://$BK_BUCKET/$safety_key"
}

# A replace where the live data does not exist (a rebuilt server, an instance the target may be
# restored onto): nothing to keep, so no safety backup; the copy is put in place as on any replace.
no_live_data() { # no_live_data <what>
  log_info "replace: $1 does not exist here, so there is nothing to keep: no safety backup"
}

# ------------------------------------------------------------------ run

restored_to='' aside_name=''
restore_started_ms="$(now_ms)"
"restore_$BK_KIND"
restore_seconds="$(seconds_since "$restore_started_ms")"
log_info "restored into $restored_to in $restore_seconds s${aside_name:+; the previous data is kept as $aside_name}"

json_quote_each "$BK_TARGET" "$BK_KIND" "$RS_MODE" "$key" "$key_version" "$actual_sha" "$restored_to" "$aside_name" "$safety_key"
[ -n "$aside_name" ] || JSON_QUOTED[7]=null
[ -n "$safety_key" ] || JSON_QUOTED[8]=null
printf 'RESTORE_RESULT {"target":%s,"kind":%s,"mode":%s,"key":%s,"versionId":%s,"bytes":%s,"sha256":%s,"restoredTo":%s,"previousDataKeptAs":%s,"safetyBackupKey":%s,"restoreSeconds":%s,"durationSeconds":%s}\n' \
  "${JSON_QUOTED[@]:0:5}" "$actual_bytes" "${JSON_QUOTED[@]:5:4}" "$restore_seconds" "$(seconds_since "$started_ms")"

if [ "$drill" = 1 ]; then
  drill_checks
  remove_copy "$drill_copy"
  drill_copy=''
  record_check cleanup passed "removed $restored_to"
  passed="$(json_bool "$([ "${#failed_checks[@]}" = 0 ] && echo 1)")"
  joined="$(IFS=,; printf '%s' "${checks[*]}")"
  json_quote_each "$BK_TARGET" "$BK_KIND" "$key"
  printf 'DRILL_RESULT {"target":%s,"kind":%s,"key":%s,"bytes":%s,"passed":%s,"restoreSeconds":%s,"checks":[%s]}\n' \
    "${JSON_QUOTED[@]}" "$actual_bytes" "$passed" "$(seconds_since "$started_ms")" "$joined"
  [ "$passed" = true ] || fail "$E_DRILL" "drill checks failed: $(IFS=';'; printf '%s' "${failed_checks[*]}")"
fi
