#!/usr/bin/env bash
# Restores one backup of a target on this instance. It fetches the backup's manifest and the
# backup, checks SHA-256 and size against the manifest before touching anything, then:
#   RS_MODE=scratch  restores into a new database or a side path; live data is never touched.
#   RS_MODE=replace  takes a safety backup of the live data through backup.sh, restores into a
#                    new database / a temporary path on the same file system, and swaps it in
#                    only when complete (the old data is kept aside, never deleted).
# With RS_DRILL=1 (scratch only) it checks the restored copy against the manifest, removes it
# and prints a DRILL_RESULT line. On any failure it exits non-zero and live data is as it was.
#
# Settings (environment; the SSM document exports them from its parameters):
#   BK_TARGET, BK_KIND (postgres|mysql|sqlite|files), BK_BUCKET, BK_REGION
#   postgres/mysql: BK_DB_HOST, BK_DB_PORT, BK_DB_NAME, BK_DB_USER,
#                   BK_PASSWORD_SSM_PARAMETER or BK_PASSWORD_SECRET_ID
#                   RS_DB_USER + RS_PASSWORD_SSM_PARAMETER / RS_PASSWORD_SECRET_ID: a role that may
#                   create databases, when the backup user may not (default: the BK_ ones)
#   sqlite/files:   BK_PATH
#   RS_MODE         scratch | replace
#   RS_KEY          the backup's object key; or
#   RS_BEFORE       ISO 8601 time with zone: the newest backup that started at or before it;
#                   neither: the newest backup whose verification verdict passed
#   RS_TIERS        tiers to search, space or comma separated (default: every tier prefix in the bucket)
#   RS_SCRATCH_NAME scratch database name (default <db>_restore_<UTC stamp>)
#   RS_SCRATCH_PATH scratch path for sqlite/files (default <path>.restore-<UTC stamp>)
#   RS_CONFIRM      replace only: must equal BK_TARGET
#   RS_SAFETY_TIER  replace only: tier of the safety backup; BK_KMS_KEY_ID and BK_RETENTION_DAYS
#                   are passed to backup.sh with it
#   RS_DRILL        1: check, remove the scratch copy, print DRILL_RESULT
#   RS_DRILL_PROBES base64 of a JSON array of SQL statements that must each return a row whose
#                   first value is true (postgres/mysql drills)
#   RS_DRILL_SAMPLE files drills: how many files to compare with the archive (default 50)
#   RS_WORK_DIR     where the backup is downloaded (default /var/tmp)
# Output: logs on stderr; on stdout only `RESTORE_RESULT {json}` (and `DRILL_RESULT {json}`).
# Exit codes: 0 ok, 2 bad input, 3 credentials, 4 restore failed, 5 backup not found or not
# downloadable, 7 backup does not match its manifest, 8 safety backup failed, 9 drill check
# failed, 10 swap failed (live data unchanged).
set -euo pipefail
umask 077

readonly E_INPUT=2 E_CREDENTIALS=3 E_RESTORE=4 E_FETCH=5 E_INTEGRITY=7 E_SAFETY=8 E_DRILL=9 E_SWAP=10
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '%s restore %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${BK_TARGET:-?}" "$*" >&2; }
die() { # die <exit code> <message>
  local code="$1"
  shift
  log "ERROR: $*"
  exit "$code"
}
require_setting() { # require_setting <variable> <pattern>
  local value="${!1:-}"
  [ -n "$value" ] || die "$E_INPUT" "$1 is required but not set"
  [[ "$value" =~ $2 ]] || die "$E_INPUT" "$1 '$value' is not valid (must match $2)"
}
need_tool() { command -v "$1" >/dev/null 2>&1 || die "$E_INPUT" "$1 is not installed on this instance"; }
aws_cli() { aws ${BK_REGION:+--region "$BK_REGION"} "$@"; }
extension_of_kind() {
  case "$1" in postgres) echo pgdump.gz ;; mysql) echo sql.gz ;; sqlite) echo sqlite.gz ;; files) echo tar.gz ;; esac
}
# <base><suffix>, the base shortened so that the name fits the 63 characters databases allow.
derived_name() { printf '%s%s\n' "${1:0:$((63 - ${#2}))}" "$2"; }
# The database password, from the SSM parameter or the secret the settings name; never logged.
read_db_password() {
  local parameter="${RS_PASSWORD_SSM_PARAMETER:-${BK_PASSWORD_SSM_PARAMETER:-}}" secret="${RS_PASSWORD_SECRET_ID:-${BK_PASSWORD_SECRET_ID:-}}" value
  if [ -n "${RS_DB_USER:-}" ] && [ -z "${RS_PASSWORD_SSM_PARAMETER:-}${RS_PASSWORD_SECRET_ID:-}" ]; then
    log "RS_DB_USER is set without RS_PASSWORD_SSM_PARAMETER or RS_PASSWORD_SECRET_ID"
    return 1
  fi
  if [ -n "$parameter" ]; then
    value="$(aws_cli ssm get-parameter --name "$parameter" --with-decryption --query Parameter.Value --output text)" || return 1
  elif [ -n "$secret" ]; then
    value="$(aws_cli secretsmanager get-secret-value --secret-id "$secret" --query SecretString --output text)" || return 1
    if printf '%s' "$value" | jq -e 'type == "object"' >/dev/null 2>&1; then
      value="$(printf '%s' "$value" | jq -r '.password // empty')"
    fi
  else
    log "no password source: set BK_PASSWORD_SSM_PARAMETER or BK_PASSWORD_SECRET_ID"
    return 1
  fi
  [ -n "$value" ] || return 1
  printf '%s' "$value"
}

started_ms="$(date +%s%3N)"
stamp="$(date -u +%Y%m%d%H%M%S)"
work_dir=''
# What the cleanup must undo if the run stops early: a half-made scratch or incoming copy.
pending_db='' pending_path='' drill_copy='' swapped=0 reenable_db=''

elapsed_seconds() { # elapsed_seconds <since_ms>
  awk -v a="$1" -v b="$(date +%s%3N)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'
}

cleanup() {
  local status=$?
  set +e
  if [ -n "$reenable_db" ]; then pg_admin -c "ALTER DATABASE \"$reenable_db\" ALLOW_CONNECTIONS true" >/dev/null 2>&1; fi
  if [ -n "$drill_copy" ]; then remove_copy "$drill_copy"; fi
  if [ "$swapped" = 0 ] && [ -n "$pending_db" ]; then
    log "removing the incomplete database $pending_db"
    drop_database "$pending_db"
  fi
  if [ "$swapped" = 0 ] && [ -n "$pending_path" ] && [ -e "$pending_path" ]; then
    log "removing the incomplete copy $pending_path"
    rm -rf -- "$pending_path"
  fi
  if [ -n "$work_dir" ]; then rm -rf -- "$work_dir"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ settings

require_setting BK_TARGET '^[a-z][a-z0-9-]{0,39}$'
require_setting BK_KIND '^(postgres|mysql|sqlite|files)$'
require_setting BK_BUCKET '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'
require_setting RS_MODE '^(scratch|replace)$'
drill="${RS_DRILL:-0}"
[[ "$drill" =~ ^[01]$ ]] || die "$E_INPUT" "RS_DRILL must be 0 or 1 (got '$drill')"
if [ "$drill" = 1 ] && [ "$RS_MODE" != scratch ]; then die "$E_INPUT" "RS_DRILL=1 needs RS_MODE=scratch: a drill never touches live data"; fi
if [ "$RS_MODE" = replace ]; then
  [ "${RS_CONFIRM:-}" = "$BK_TARGET" ] || die "$E_INPUT" "RS_MODE=replace overwrites live data: RS_CONFIRM must equal the target name '$BK_TARGET'"
  require_setting RS_SAFETY_TIER '^[a-z][a-z0-9-]{0,23}$'
fi
if [ -n "${RS_KEY:-}" ] && [ -n "${RS_BEFORE:-}" ]; then die "$E_INPUT" "give RS_KEY or RS_BEFORE, not both"; fi
ext="$(extension_of_kind "$BK_KIND")"

case "$BK_KIND" in
  postgres | mysql)
    require_setting BK_DB_HOST '^[A-Za-z0-9:][A-Za-z0-9.:-]{0,252}$'
    require_setting BK_DB_PORT '^[1-9][0-9]{0,4}$'
    require_setting BK_DB_NAME '^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$'
    db_user="${RS_DB_USER:-${BK_DB_USER:-}}"
    [[ "$db_user" =~ ^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,62}$ ]] || die "$E_INPUT" "BK_DB_USER (or RS_DB_USER) must be a database user name"
    scratch_db="${RS_SCRATCH_NAME:-$(derived_name "$BK_DB_NAME" "_restore_$stamp")}"
    [[ "$scratch_db" =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$ ]] || die "$E_INPUT" "RS_SCRATCH_NAME must be 1-63 letters, digits, _ and - (got '$scratch_db')"
    [ "$scratch_db" != "$BK_DB_NAME" ] || die "$E_INPUT" "RS_SCRATCH_NAME must not be the live database '$BK_DB_NAME'"
    ;;
  sqlite | files)
    require_setting BK_PATH '^/[A-Za-z0-9._/@+=,: -]{0,4095}$'
    live_path="${BK_PATH%/}"
    scratch_path="${RS_SCRATCH_PATH:-$live_path.$([ "$drill" = 1 ] && echo drill || echo restore)-$stamp}"
    [[ "$scratch_path" =~ ^/[A-Za-z0-9._/@+=,:\ -]{0,4095}$ ]] || die "$E_INPUT" "RS_SCRATCH_PATH must be an absolute path (got '$scratch_path')"
    scratch_path="${scratch_path%/}"
    case "$scratch_path/" in "$live_path/"*) die "$E_INPUT" "RS_SCRATCH_PATH '$scratch_path' is the live path or inside it" ;; esac
    case "$live_path/" in "$scratch_path/"*) die "$E_INPUT" "RS_SCRATCH_PATH '$scratch_path' contains the live path" ;; esac
    ;;
esac
for tool in aws jq gzip sha256sum; do need_tool "$tool"; done

# ------------------------------------------------------------------ choosing the backup

key_pattern="^[a-z][a-z0-9-]{0,23}/$BK_TARGET/[0-9]{4}/[0-9]{2}/[0-9]{2}/${BK_TARGET}_[0-9]{8}T[0-9]{6}Z\\.${ext//./\\.}\$"

# Every backup key of the target with a manifest, newest first (by the key's UTC stamp).
backups_newest_first() {
  local tiers tier listing
  if [ -n "${RS_TIERS:-}" ]; then
    tiers="${RS_TIERS//,/ }"
  else
    tiers="$(aws_cli s3api list-objects-v2 --bucket "$BK_BUCKET" --delimiter / --query 'CommonPrefixes[].Prefix' --output text)" ||
      die "$E_FETCH" "cannot list the tiers of s3://$BK_BUCKET (set RS_TIERS, or allow s3:ListBucket)"
    tiers="$(printf '%s' "$tiers" | tr '\t' '\n' | sed -n 's#/$##p')"
  fi
  for tier in $tiers; do
    [[ "$tier" =~ ^[a-z][a-z0-9-]{0,23}$ ]] || continue
    listing="$(aws_cli s3api list-objects-v2 --bucket "$BK_BUCKET" --prefix "$tier/$BK_TARGET/" --query 'Contents[].Key' --output text)" ||
      die "$E_FETCH" "cannot list s3://$BK_BUCKET/$tier/$BK_TARGET/"
    printf '%s\n' "$listing" | tr '\t' '\n'
  done | awk -v pattern="$key_pattern" '
    /\.manifest\.json$/ { manifests[substr($0, 1, length($0) - 14)] = 1; next }
    $0 ~ pattern { keys[$0] = 1 }
    END { for (key in keys) if (key in manifests) { n = split(key, parts, "_"); print parts[n] "\t" key } }
  ' | sort -r | cut -f2
}

resolve_key() {
  local candidate before_stamp
  if [ -n "${RS_KEY:-}" ]; then
    [[ "$RS_KEY" =~ $key_pattern ]] || die "$E_INPUT" "RS_KEY '$RS_KEY' is not a $BK_KIND backup key of target $BK_TARGET (<tier>/$BK_TARGET/YYYY/MM/DD/${BK_TARGET}_<stamp>.$ext)"
    printf '%s\n' "$RS_KEY"
    return
  fi
  if [ -n "${RS_BEFORE:-}" ]; then
    [[ "$RS_BEFORE" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})$ ]] ||
      die "$E_INPUT" "RS_BEFORE must be an ISO 8601 time with a zone, e.g. 2026-11-21T14:06:00Z (got '$RS_BEFORE')"
    before_stamp="$(date -u -d "$RS_BEFORE" +%Y%m%dT%H%M%SZ)" || die "$E_INPUT" "RS_BEFORE '$RS_BEFORE' is not a valid time"
    candidate="$(backups_newest_first | awk -v limit="$before_stamp" '{ n = split($0, p, "_"); s = substr(p[n], 1, 16); if (s <= limit) { print; exit } }')"
    [ -n "$candidate" ] || die "$E_FETCH" "no complete backup of $BK_TARGET started at or before $RS_BEFORE"
    printf '%s\n' "$candidate"
    return
  fi
  local checked=0 verdict
  while IFS= read -r candidate; do
    [ -n "$candidate" ] || continue
    checked=$((checked + 1))
    [ "$checked" -le 20 ] || break
    if verdict="$(aws_cli s3 cp "s3://$BK_BUCKET/$candidate.verification.json" - 2>/dev/null)" &&
      printf '%s' "$verdict" | jq -e '.passed == true' >/dev/null 2>&1; then
      printf '%s\n' "$candidate"
      return
    fi
    log "skipping $candidate: no passing verification verdict"
  done < <(backups_newest_first)
  die "$E_FETCH" "no verified backup of $BK_TARGET among the newest $((checked < 20 ? checked : 20)); give RS_KEY to restore an unverified one"
}

# ------------------------------------------------------------------ fetching and checking

work_dir="$(mktemp -d "${RS_WORK_DIR:-/var/tmp}/backup-kit-restore.XXXXXXXXXX")" || die "$E_INPUT" "cannot create a work directory in ${RS_WORK_DIR:-/var/tmp}"
key="$(resolve_key)"
log "backup: s3://$BK_BUCKET/$key (mode $RS_MODE$([ "$drill" = 1 ] && echo ', drill'))"
manifest="$work_dir/manifest.json"
aws_cli s3 cp --only-show-errors "s3://$BK_BUCKET/$key.manifest.json" "$manifest" >&2 ||
  die "$E_FETCH" "cannot fetch the manifest s3://$BK_BUCKET/$key.manifest.json: a backup without a manifest is incomplete"
jq -e --arg kind "$BK_KIND" --arg target "$BK_TARGET" --arg key "$key" \
  '.manifestVersion == 1 and .kind == $kind and .target == $target and .key == $key and (.sha256 | test("^[0-9a-f]{64}$")) and (.bytes | type == "number")' \
  "$manifest" >/dev/null || die "$E_INTEGRITY" "the manifest of $key does not describe this $BK_KIND backup of $BK_TARGET"
expected_sha="$(jq -r .sha256 "$manifest")"
expected_bytes="$(jq -r .bytes "$manifest")"
free_kb="$(df -Pk "$work_dir" | awk 'NR == 2 { print $4 }')"
if [ "$((free_kb * 1024))" -lt "$expected_bytes" ]; then
  die "$E_FETCH" "$work_dir has $((free_kb / 1024)) MiB free; the backup needs $((expected_bytes / 1048576)) MiB (set RS_WORK_DIR)"
fi

fetch_started_ms="$(date +%s%3N)"
backup_file="$work_dir/backup.$ext"
aws_cli s3 cp --only-show-errors "s3://$BK_BUCKET/$key" "$backup_file" >&2 || die "$E_FETCH" "cannot download s3://$BK_BUCKET/$key"
actual_bytes="$(stat -c %s "$backup_file")"
actual_sha="$(sha256sum "$backup_file" | cut -d' ' -f1)"
if [ "$actual_bytes" != "$expected_bytes" ] || [ "$actual_sha" != "$expected_sha" ]; then
  die "$E_INTEGRITY" "REFUSED: the backup does not match its manifest (bytes $actual_bytes vs $expected_bytes, sha256 $actual_sha vs $expected_sha); nothing was touched. Pick another backup (RS_KEY) and report this one."
fi
gzip -t "$backup_file" 2>/dev/null || die "$E_INTEGRITY" "REFUSED: the backup matches its manifest but does not decompress; nothing was touched"
log "checked: $actual_bytes bytes, sha256 $actual_sha matches the manifest (download $(elapsed_seconds "$fetch_started_ms") s)"

# ------------------------------------------------------------------ the safety backup

safety_key=''
safety_backup() {
  local output line
  log "replace: taking a safety backup of the live data in tier $RS_SAFETY_TIER"
  if ! output="$(BK_TIER="$RS_SAFETY_TIER" bash "$script_dir/backup.sh")"; then
    die "$E_SAFETY" "the safety backup failed, so nothing was restored and live data is as it was"
  fi
  line="$(printf '%s\n' "$output" | grep '^BACKUP_RESULT ' | tail -n 1 || true)"
  safety_key="$(printf '%s' "${line#BACKUP_RESULT }" | jq -r '.key // empty' 2>/dev/null || true)"
  [ -n "$safety_key" ] || die "$E_SAFETY" "the safety backup reported no key, so nothing was restored"
  log "safety backup: s3://$BK_BUCKET/$safety_key"
}

# ------------------------------------------------------------------ PostgreSQL

pg_admin() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "${RS_PG_MAINTENANCE_DB:-postgres}" "$@"; }
pg_db() { local db="$1"; shift; psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }

pg_connect() {
  need_tool psql
  need_tool pg_restore
  local password
  password="$(read_db_password)" || die "$E_CREDENTIALS" "cannot read the database password"
  export PGHOST="$BK_DB_HOST" PGPORT="$BK_DB_PORT" PGUSER="$db_user" PGPASSFILE="$work_dir/pgpass" PGCONNECT_TIMEOUT=15
  printf '*:*:*:*:%s\n' "$(printf '%s' "$password" | sed 's/\\/\\\\/g; s/:/\\:/g')" >"$PGPASSFILE"
  pg_admin -c 'SELECT 1' >/dev/null || die "$E_CREDENTIALS" "cannot connect to PostgreSQL at $BK_DB_HOST:$BK_DB_PORT as $db_user"
}

pg_exists() { [ "$(pg_admin -c "SELECT 1 FROM pg_database WHERE datname = '$1'")" = 1 ]; }

# Creates database $1 with the encoding and locale of the live database when it exists.
pg_create_like_live() {
  local settings=''
  if pg_exists "$BK_DB_NAME"; then
    settings="$(pg_admin -F ' ' -c "SELECT 'ENCODING ''' || pg_encoding_to_char(encoding) || ''' LC_COLLATE ''' || datcollate || ''' LC_CTYPE ''' || datctype || '''' FROM pg_database WHERE datname = '$BK_DB_NAME'")"
  fi
  pg_admin -c "CREATE DATABASE \"$1\" TEMPLATE template0 $settings" >/dev/null
}

pg_restore_into() { # pg_restore_into <db> <scratch|replace>
  local flags=(--exit-on-error)
  # A scratch copy belongs to the restoring user; a replacement keeps owners and grants.
  [ "$2" = scratch ] && flags+=(--no-owner --no-acl)
  gzip -dc "$backup_file" | pg_restore "${flags[@]}" -d "$1"
}

restore_postgres() {
  pg_connect
  if [ "$RS_MODE" = scratch ]; then
    pg_exists "$scratch_db" && die "$E_INPUT" "database $scratch_db already exists; choose another RS_SCRATCH_NAME"
    pending_db="$scratch_db"
    pg_create_like_live "$scratch_db" || die "$E_RESTORE" "cannot create database $scratch_db (does $db_user have CREATEDB?)"
    pg_restore_into "$scratch_db" scratch || die "$E_RESTORE" "pg_restore into $scratch_db failed; live database untouched"
    restored_to="$scratch_db"
    [ "$drill" = 1 ] && drill_copy="db:$scratch_db"
    pending_db=''
    return
  fi
  local incoming aside owner
  incoming="$(derived_name "$BK_DB_NAME" "_rs_$stamp")"
  aside="$(derived_name "$BK_DB_NAME" "_pre_restore_$stamp")"
  pg_exists "$incoming" && die "$E_INPUT" "database $incoming already exists"
  safety_backup
  pending_db="$incoming"
  pg_create_like_live "$incoming" || die "$E_RESTORE" "cannot create database $incoming (does $db_user have CREATEDB?)"
  pg_restore_into "$incoming" replace || die "$E_RESTORE" "pg_restore into $incoming failed; live database untouched"
  if pg_exists "$BK_DB_NAME"; then
    owner="$(pg_admin -c "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$BK_DB_NAME'")"
    pg_admin -c "ALTER DATABASE \"$incoming\" OWNER TO \"$owner\"" >/dev/null || log "warning: could not give $incoming to $owner; it stays owned by $db_user"
    # New sessions are refused while live sessions are ended, so the rename finds the database idle.
    reenable_db="$BK_DB_NAME"
    pg_admin -c "ALTER DATABASE \"$BK_DB_NAME\" ALLOW_CONNECTIONS false" >/dev/null || die "$E_SWAP" "cannot stop new connections to $BK_DB_NAME; live database unchanged, restored copy in $incoming"
    local attempt
    for attempt in 1 2 3 4 5; do
      pg_admin -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN ('$BK_DB_NAME', '$incoming') AND pid <> pg_backend_pid()" >/dev/null || true
      sleep 1
      if pg_admin -c "BEGIN; ALTER DATABASE \"$BK_DB_NAME\" RENAME TO \"$aside\"; ALTER DATABASE \"$incoming\" RENAME TO \"$BK_DB_NAME\"; COMMIT;" >/dev/null; then
        swapped=1
        break
      fi
      log "swap attempt $attempt failed (sessions still open); retrying"
    done
    [ "$swapped" = 1 ] || die "$E_SWAP" "could not rename $BK_DB_NAME while sessions kept reconnecting; live database unchanged"
    reenable_db=''
    pg_admin -c "ALTER DATABASE \"$aside\" ALLOW_CONNECTIONS true" >/dev/null || true
    aside_name="$aside"
  else
    pg_admin -c "ALTER DATABASE \"$incoming\" RENAME TO \"$BK_DB_NAME\"" >/dev/null || die "$E_SWAP" "cannot rename $incoming to $BK_DB_NAME"
    swapped=1
  fi
  restored_to="$BK_DB_NAME"
}

pg_row_counts() { # tab-separated "schema.table<TAB>rows", sorted
  local db="$1" table
  pg_db "$db" -c "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND NOT c.relispartition ORDER BY 1" |
    while IFS= read -r table; do
      [ -n "$table" ] || continue
      printf '%s\t%s\n' "$table" "$(pg_db "$db" -c "SELECT count(*) FROM \"${table%%.*}\".\"${table#*.}\"")"
    done | LC_ALL=C sort
}

# ------------------------------------------------------------------ MySQL

my_connect() {
  mysql_bin="$(command -v mysql || command -v mariadb || true)"
  [ -n "$mysql_bin" ] || die "$E_INPUT" "neither mysql nor mariadb client is installed"
  local password
  password="$(read_db_password)" || die "$E_CREDENTIALS" "cannot read the database password"
  my_cnf="$work_dir/my.cnf"
  printf '[client]\nhost=%s\nport=%s\nuser=%s\npassword="%s"\n' "$BK_DB_HOST" "$BK_DB_PORT" "$db_user" \
    "$(printf '%s' "$password" | sed 's/\\/\\\\/g; s/"/\\"/g')" >"$my_cnf"
  my_sql -e 'SELECT 1' >/dev/null || die "$E_CREDENTIALS" "cannot connect to MySQL at $BK_DB_HOST:$BK_DB_PORT as $db_user"
}

my_sql() { "$mysql_bin" --defaults-extra-file="$my_cnf" --protocol=TCP --batch --skip-column-names "$@"; }
my_exists() { [ -n "$(my_sql -e "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$1'")" ]; }
my_tables() { my_sql -e "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$1' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1"; }
my_quote() { local tick='`'; printf '%s%s%s' "$tick" "${1//$tick/$tick$tick}" "$tick"; }

# Views, triggers, routines and events cannot move between schemas with RENAME TABLE.
my_unmovable() {
  my_sql -e "SELECT CONCAT(COUNT(*), ' view(s)') FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '$1' HAVING COUNT(*) > 0
    UNION ALL SELECT CONCAT(COUNT(*), ' trigger(s)') FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '$1' HAVING COUNT(*) > 0
    UNION ALL SELECT CONCAT(COUNT(*), ' routine(s)') FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '$1' HAVING COUNT(*) > 0
    UNION ALL SELECT CONCAT(COUNT(*), ' event(s)') FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '$1' HAVING COUNT(*) > 0" | paste -sd, -
}

my_create_like_live() {
  local settings=''
  if my_exists "$BK_DB_NAME"; then
    settings="$(my_sql -e "SELECT CONCAT('CHARACTER SET ', DEFAULT_CHARACTER_SET_NAME, ' COLLATE ', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$BK_DB_NAME'")"
  fi
  my_sql -e "CREATE DATABASE $(my_quote "$1") $settings"
}

my_restore_into() {
  gzip -dc "$backup_file" | my_sql "$1"
}

restore_mysql() {
  my_connect
  # A dump made with --databases switches to the live database itself; it cannot go elsewhere.
  if { gzip -dc "$backup_file" || true; } | grep -q -m 1 -E '^(USE |CREATE DATABASE )'; then
    die "$E_INPUT" "the dump selects its database (USE/CREATE DATABASE), so it would write into the live database; refusing"
  fi
  if [ "$RS_MODE" = scratch ]; then
    my_exists "$scratch_db" && die "$E_INPUT" "database $scratch_db already exists; choose another RS_SCRATCH_NAME"
    pending_db="$scratch_db"
    my_create_like_live "$scratch_db" || die "$E_RESTORE" "cannot create database $scratch_db"
    my_restore_into "$scratch_db" || die "$E_RESTORE" "loading the dump into $scratch_db failed; live database untouched"
    restored_to="$scratch_db"
    [ "$drill" = 1 ] && drill_copy="db:$scratch_db"
    pending_db=''
    return
  fi
  local incoming aside unmovable statement='' table
  incoming="$(derived_name "$BK_DB_NAME" "_rs_$stamp")"
  aside="$(derived_name "$BK_DB_NAME" "_pre_restore_$stamp")"
  if my_exists "$BK_DB_NAME"; then
    unmovable="$(my_unmovable "$BK_DB_NAME")"
    [ -z "$unmovable" ] || die "$E_INPUT" "$BK_DB_NAME has $unmovable, which RENAME TABLE cannot move: restore with RS_MODE=scratch and swap by hand"
  fi
  my_exists "$incoming" && die "$E_INPUT" "database $incoming already exists"
  safety_backup
  pending_db="$incoming"
  my_create_like_live "$incoming" || die "$E_RESTORE" "cannot create database $incoming"
  my_restore_into "$incoming" || die "$E_RESTORE" "loading the dump into $incoming failed; live database untouched"
  unmovable="$(my_unmovable "$incoming")"
  [ -z "$unmovable" ] || die "$E_INPUT" "the backup has $unmovable, which RENAME TABLE cannot move: restore with RS_MODE=scratch and swap by hand"
  my_exists "$BK_DB_NAME" || my_create_like_live "$BK_DB_NAME" || die "$E_RESTORE" "cannot create database $BK_DB_NAME"
  my_sql -e "CREATE DATABASE $(my_quote "$aside")" || die "$E_SWAP" "cannot create $aside for the live tables"
  # One RENAME TABLE statement is atomic: every table moves, or none does.
  while IFS= read -r table; do
    [ -n "$table" ] && statement+="${statement:+, }$(my_quote "$BK_DB_NAME").$(my_quote "$table") TO $(my_quote "$aside").$(my_quote "$table")"
  done < <(my_tables "$BK_DB_NAME")
  while IFS= read -r table; do
    [ -n "$table" ] && statement+="${statement:+, }$(my_quote "$incoming").$(my_quote "$table") TO $(my_quote "$BK_DB_NAME").$(my_quote "$table")"
  done < <(my_tables "$incoming")
  if [ -n "$statement" ] && ! my_sql -e "SET SESSION lock_wait_timeout = 120; RENAME TABLE $statement"; then
    my_sql -e "DROP DATABASE $(my_quote "$aside")" || true
    die "$E_SWAP" "RENAME TABLE failed, so no table moved; live database unchanged"
  fi
  swapped=1
  my_sql -e "DROP DATABASE $(my_quote "$incoming")" || log "warning: could not drop the now empty $incoming"
  aside_name="$aside"
  restored_to="$BK_DB_NAME"
}

my_row_counts() {
  local db="$1" table
  my_tables "$db" | while IFS= read -r table; do
    [ -n "$table" ] || continue
    printf '%s\t%s\n' "$table" "$(my_sql -e "SELECT COUNT(*) FROM $(my_quote "$db").$(my_quote "$table")")"
  done | LC_ALL=C sort
}

# ------------------------------------------------------------------ SQLite and files

# Pids of processes that have <path> open (a live SQLite file must not be swapped under them).
open_by() {
  local fd
  for fd in /proc/[0-9]*/fd/*; do
    [ "$(readlink "$fd" 2>/dev/null)" = "$1" ] && { fd="${fd#/proc/}"; printf '%s ' "${fd%%/*}"; }
  done
  return 0
}

# Renames <new> over <live> in one step and keeps the old one at <aside>.
swap_in() { # swap_in <new> <live> <aside>
  if [ ! -e "$2" ]; then
    mv -T -- "$1" "$2"
    return
  fi
  if [ -f "$2" ]; then
    # A hard link keeps the old file reachable; rename(2) then replaces the live name atomically.
    ln -- "$2" "$3" && mv -T -- "$1" "$2"
    return
  fi
  if mv --help 2>/dev/null | grep -q -- '--exchange'; then
    mv --exchange -T -- "$1" "$2" && mv -T -- "$1" "$3"
  elif command -v python3 >/dev/null 2>&1 && python3 - "$1" "$2" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
if libc.renameat2(AT_FDCWD, sys.argv[1].encode(), AT_FDCWD, sys.argv[2].encode(), RENAME_EXCHANGE) != 0:
    sys.exit(os.strerror(ctypes.get_errno()))
PY
  then
    mv -T -- "$1" "$3"
  else
    log "no atomic exchange available (coreutils mv --exchange or python3): swapping with two renames"
    mv -T -- "$2" "$3" && mv -T -- "$1" "$2"
  fi
}

restore_sqlite() {
  need_tool sqlite3
  local destination tmp check pids suffix
  if [ "$RS_MODE" = scratch ]; then destination="$scratch_path"; else destination="$live_path"; fi
  [ "$RS_MODE" = replace ] || [ ! -e "$destination" ] || die "$E_INPUT" "$destination already exists; choose another RS_SCRATCH_PATH"
  [ -d "$(dirname "$destination")" ] || die "$E_INPUT" "directory $(dirname "$destination") does not exist"
  if [ "$RS_MODE" = replace ] && [ -e "$live_path" ]; then
    pids="$(open_by "$(readlink -f "$live_path")")"
    [ -z "$pids" ] || die "$E_INPUT" "$live_path is open by process(es) $pids: stop the application before replacing its database"
    safety_backup
  fi
  tmp="$(mktemp "$destination.partial.XXXXXX")" || die "$E_RESTORE" "cannot create a temporary file beside $destination"
  pending_path="$tmp"
  gzip -dc "$backup_file" >"$tmp" || die "$E_RESTORE" "decompressing into $tmp failed"
  check="$(sqlite3 "$tmp" 'PRAGMA integrity_check' 2>&1 | head -n 5)"
  [ "$check" = ok ] || die "$E_RESTORE" "the restored file fails PRAGMA integrity_check: $check"
  if [ "$RS_MODE" = scratch ]; then
    mv -T -- "$tmp" "$destination" || die "$E_RESTORE" "cannot move the copy to $destination"
    pending_path=''
    [ "$drill" = 1 ] && drill_copy="path:$destination"
  else
    if [ -e "$live_path" ]; then
      if ! { chown --reference="$live_path" "$tmp" && chmod --reference="$live_path" "$tmp"; }; then
        die "$E_RESTORE" "cannot give $tmp the owner and mode of $live_path"
      fi
    fi
    aside_name="$live_path.pre-restore-$stamp"
    # The journal or WAL of the old file must not be applied to the new one: they go aside with it.
    for suffix in -wal -journal; do
      if [ -e "$live_path$suffix" ]; then ln -- "$live_path$suffix" "$aside_name$suffix" || die "$E_SWAP" "cannot keep $live_path$suffix aside"; fi
    done
    swap_in "$tmp" "$live_path" "$aside_name" || die "$E_SWAP" "the swap failed; $live_path is unchanged"
    swapped=1
    rm -f -- "$live_path-wal" "$live_path-shm" "$live_path-journal"
    [ -e "$aside_name" ] || aside_name=''
  fi
  restored_to="$destination"
}

restore_files() {
  need_tool tar
  local destination tmp
  if [ "$RS_MODE" = scratch ]; then destination="$scratch_path"; else destination="$live_path"; fi
  [ "$RS_MODE" = replace ] || [ ! -e "$destination" ] || die "$E_INPUT" "$destination already exists; choose another RS_SCRATCH_PATH"
  [ -d "$(dirname "$destination")" ] || die "$E_INPUT" "directory $(dirname "$destination") does not exist"
  [ "$RS_MODE" = scratch ] || [ ! -e "$live_path" ] || safety_backup
  tmp="$(mktemp -d "$destination.partial.XXXXXX")" || die "$E_RESTORE" "cannot create a temporary directory beside $destination"
  pending_path="$tmp"
  tar -xzf "$backup_file" -C "$tmp" --same-permissions --same-owner --numeric-owner || die "$E_RESTORE" "extracting into $tmp failed"
  if [ "$RS_MODE" = scratch ]; then
    mv -T -- "$tmp" "$destination" || die "$E_RESTORE" "cannot move the copy to $destination"
    pending_path=''
    [ "$drill" = 1 ] && drill_copy="path:$destination"
  else
    if [ -e "$live_path" ]; then
      if ! { chown --reference="$live_path" "$tmp" && chmod --reference="$live_path" "$tmp"; }; then
        die "$E_RESTORE" "cannot give $tmp the owner and mode of $live_path"
      fi
    fi
    aside_name="$live_path.pre-restore-$stamp"
    swap_in "$tmp" "$live_path" "$aside_name" || die "$E_SWAP" "the swap failed; $live_path is unchanged"
    swapped=1
    [ -e "$aside_name" ] || aside_name=''
  fi
  restored_to="$destination"
}

# ------------------------------------------------------------------ drills

checks_file=''
record_check() { # record_check <name> <passed|failed|skipped> <detail>
  jq -cn --arg name "$1" --arg status "$2" --arg detail "$3" '{ name: $name, status: $status, detail: $detail }' >>"$checks_file"
}

compare_row_counts() { # compare_row_counts <file with "table<TAB>rows" lines>
  local actual="$1" expected="$work_dir/expected-counts" expected_tables actual_tables differences
  if ! jq -e '.database.rowCounts | type == "object"' "$manifest" >/dev/null; then
    record_check tables skipped 'the manifest has no table or row counts'
    return
  fi
  jq -r '.database.rowCounts | to_entries[] | "\(.key)\t\(.value)"' "$manifest" | LC_ALL=C sort >"$expected"
  expected_tables="$(jq -r '.database.tableCount' "$manifest")"
  actual_tables="$(grep -c . "$actual" || true)"
  if [ "$expected_tables" = "$actual_tables" ]; then
    record_check tables passed "$actual_tables tables, as in the manifest"
  else
    record_check tables failed "$actual_tables tables restored, the manifest says $expected_tables"
  fi
  differences="$(LC_ALL=C join -t "$(printf '\t')" -a 1 -a 2 -e missing -o 0,1.2,2.2 "$expected" "$actual" | awk -F '\t' '$2 != $3 { printf "%s%s: manifest %s, restored %s", sep, $1, $2, $3; sep = "; " }')"
  if [ -z "$differences" ]; then
    record_check rowCounts passed "row counts of $(wc -l <"$expected") tables match the manifest"
  else
    record_check rowCounts failed "$differences"
  fi
}

run_probes() { # run_probes <sql runner command...>
  local probes probe value index=0
  [ -n "${RS_DRILL_PROBES:-}" ] || return 0
  if ! probes="$(printf '%s' "$RS_DRILL_PROBES" | base64 -d 2>/dev/null)" || ! printf '%s' "$probes" | jq -e 'type == "array"' >/dev/null 2>&1; then
    record_check probes failed 'RS_DRILL_PROBES is not base64 of a JSON array'
    return 0
  fi
  while IFS= read -r probe; do
    index=$((index + 1))
    if value="$("$@" "$(printf '%s' "$probe" | jq -r .)" 2>&1 | head -n 1)" && [ -n "$value" ] && ! [[ "$value" =~ ^(0|f|false|FALSE|NULL)$ ]]; then
      record_check "probe$index" passed "returned $value"
    else
      record_check "probe$index" failed "$(printf '%s' "$probe" | jq -r . | head -c 200) returned '${value:-no row}'"
    fi
  done < <(printf '%s' "$probes" | jq -c '.[]')
}

drill_checks() {
  checks_file="$work_dir/checks.jsonl"
  : >"$checks_file"
  record_check restore passed "restored $key into $restored_to"
  case "$BK_KIND" in
    postgres)
      pg_row_counts "$restored_to" >"$work_dir/counts"
      compare_row_counts "$work_dir/counts"
      run_probes pg_db "$restored_to" -c
      ;;
    mysql)
      my_row_counts "$restored_to" >"$work_dir/counts"
      compare_row_counts "$work_dir/counts"
      run_probes my_sql "$restored_to" -e
      ;;
    sqlite)
      record_check integrity passed 'PRAGMA integrity_check: ok'
      sqlite3 "$restored_to" "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1" |
        while IFS= read -r table; do
          [ -n "$table" ] && printf '%s\t%s\n' "$table" "$(sqlite3 "$restored_to" "SELECT COUNT(*) FROM \"${table//\"/\"\"}\"")"
        done | LC_ALL=C sort >"$work_dir/counts"
      compare_row_counts "$work_dir/counts"
      ;;
    files) files_checks ;;
  esac
}

# Files: count and size against the manifest, and a sample of files hashed both from the
# archive stream (tar --to-command) and from the restored copy. The archive's own SHA-256
# already matched the manifest, so a sample that matches shows the extraction wrote the bytes.
files_checks() {
  local count bytes expected_count expected_bytes sample="$work_dir/sample" from_archive="$work_dir/from-archive" mismatches
  count="$(find "$restored_to" -type f | wc -l)"
  bytes="$(find "$restored_to" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')"
  expected_count="$(jq -r '.files.fileCount // empty' "$manifest")"
  expected_bytes="$(jq -r '.files.totalBytes // empty' "$manifest")"
  if [ -z "$expected_count" ]; then
    record_check fileCount skipped 'the manifest has no file count'
  elif [ "$count" = "$expected_count" ] && [ "$bytes" = "$expected_bytes" ]; then
    record_check fileCount passed "$count files, $bytes bytes, as in the manifest"
  else
    record_check fileCount failed "restored $count files / $bytes bytes, the manifest says $expected_count / $expected_bytes"
  fi
  (cd "$restored_to" && find . -type f -print0 | shuf -z -n "${RS_DRILL_SAMPLE:-50}" | tr '\0' '\n') >"$sample"
  if [ ! -s "$sample" ]; then
    record_check checksums skipped 'no files to sample'
    return
  fi
  if grep -q "$(printf '[\t]')" "$sample"; then
    record_check checksums skipped 'file names with tabs cannot be sampled'
    return
  fi
  # shellcheck disable=SC2016 # expanded by the shell tar starts per member
  tar -xzf "$backup_file" --to-command='printf "%s\t%s\n" "$(sha256sum | cut -d" " -f1)" "$TAR_FILENAME"' --verbatim-files-from -T "$sample" >"$from_archive" 2>/dev/null || true
  mismatches="$(while IFS= read -r path; do
    expected="$(awk -F '\t' -v p="$path" '$2 == p { print $1 }' "$from_archive" | head -n 1)"
    actual="$(sha256sum <"$restored_to/${path#./}" | cut -d' ' -f1)"
    [ "$expected" = "$actual" ] || printf '%s ' "$path"
  done <"$sample")"
  if [ -z "$mismatches" ]; then
    record_check checksums passed "$(wc -l <"$sample") sampled files match the archive"
  else
    record_check checksums failed "differ from the archive: $mismatches"
  fi
}

remove_copy() { # remove_copy db:<name> | path:<path>
  case "$1" in
    db:*) drop_database "${1#db:}" ;;
    path:*) rm -rf -- "${1#path:}" ;;
  esac
}

drop_database() {
  case "$BK_KIND" in
    postgres) pg_admin -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 || pg_admin -c "DROP DATABASE IF EXISTS \"$1\"" >/dev/null ;;
    mysql) my_sql -e "DROP DATABASE IF EXISTS $(my_quote "$1")" ;;
  esac
}

# ------------------------------------------------------------------ run

restored_to='' aside_name=''
restore_started_ms="$(date +%s%3N)"
"restore_$BK_KIND"
restore_seconds="$(elapsed_seconds "$restore_started_ms")"
log "restored into $restored_to in $restore_seconds s${aside_name:+; the previous data is kept as $aside_name}"

jq -cn --arg target "$BK_TARGET" --arg kind "$BK_KIND" --arg mode "$RS_MODE" --arg key "$key" --arg sha256 "$actual_sha" \
  --argjson bytes "$actual_bytes" --arg restoredTo "$restored_to" --arg aside "$aside_name" --arg safety "$safety_key" \
  --argjson restoreSeconds "$restore_seconds" --argjson durationSeconds "$(elapsed_seconds "$started_ms")" \
  '{ target: $target, kind: $kind, mode: $mode, key: $key, bytes: $bytes, sha256: $sha256, restoredTo: $restoredTo,
     previousDataKeptAs: (if $aside == "" then null else $aside end), safetyBackupKey: (if $safety == "" then null else $safety end),
     restoreSeconds: $restoreSeconds, durationSeconds: $durationSeconds }' | sed 's/^/RESTORE_RESULT /'

if [ "$drill" = 1 ]; then
  drill_checks
  remove_copy "$drill_copy"
  drill_copy=''
  record_check cleanup passed "removed $restored_to"
  passed="$(jq -s 'all(.status != "failed")' "$checks_file")"
  jq -cn --arg target "$BK_TARGET" --arg kind "$BK_KIND" --arg key "$key" --argjson bytes "$actual_bytes" \
    --argjson passed "$passed" --argjson rto "$(elapsed_seconds "$started_ms")" --slurpfile checks "$checks_file" \
    '{ target: $target, kind: $kind, key: $key, bytes: $bytes, passed: $passed, restoreSeconds: $rto, checks: $checks }' |
    sed 's/^/DRILL_RESULT /'
  [ "$passed" = true ] || die "$E_DRILL" "drill checks failed: $(jq -rs 'map(select(.status == "failed") | "\(.name): \(.detail)") | join("; ")' "$checks_file")"
fi
