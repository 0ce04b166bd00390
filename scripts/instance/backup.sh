#!/usr/bin/env bash
# Takes one consistent backup of one target on this instance and streams it, gzip-compressed and
# SSE-KMS encrypted, to the backup bucket; then sets its Object Lock retention and, last and only
# on success, writes its manifest beside it (the contract in lambda/shared/manifest.ts).
#
# Run by the SSM Command document (with common.sh in the same directory), or by hand:
#   sudo BK_TARGET=app-db BK_KIND=postgres ... bash backup.sh
#
# Inputs, ONLY from the environment:
#   BK_TARGET          target name: letters, digits, '.', '_', '-' (1-100 characters)
#   BK_KIND            postgres | mysql | sqlite | files
#   BK_TIER            tier name (lowercase letters, digits, '-'; e.g. daily)
#   BK_BUCKET          backup bucket name
#   BK_KMS_KEY_ID      KMS key (ARN, key ID or alias) for SSE-KMS
#   BK_RETENTION_DAYS  Object Lock retain-until = now + this many days (1-36500)
#   BK_REGION          optional: AWS region of the bucket (else AWS_REGION, AWS_DEFAULT_REGION,
#                      the CLI's configuration, then the instance's own region from IMDS)
#   postgres, mysql:
#     BK_DB_HOST, BK_DB_NAME, BK_DB_USER
#     BK_DB_PORT       optional: default 5432 (postgres), 3306 (mysql)
#     exactly one of BK_PASSWORD_SSM_PARAMETER (SecureString parameter name) and
#     BK_PASSWORD_SECRET_ID (Secrets Manager secret: a plain string, or JSON with "password")
#   sqlite:  BK_PATH       absolute path of the database file
#   files:   BK_PATH       absolute path of the directory
#            BK_EXCLUDES   optional: colon-separated GNU tar --exclude patterns (e.g. 'cache:*.tmp')
#            BK_FILES_INDEX_MAX_FILES optional: the most files the per-file index takes (default
#                          500000, about 150 bytes of memory each); above it the manifest has none
#   optional for every kind:
#     BK_INSTANCE_ID            recorded in the manifest (else IMDSv2 instance-id, else host name)
#     BK_OBJECT_LOCK_MODE       GOVERNANCE (default) | COMPLIANCE: the bucket's Object Lock mode
#     BK_GZIP_LEVEL             1-9, default 1 (see the README section "Instance backup scripts" for the measurements)
#     BK_COMPRESSOR             pigz | gzip: default pigz when installed (same gzip format, all
#                               cores, niced), else gzip
#     BK_ROW_COUNT_MAX_TABLE_MB tables up to this size get an exact row count in the manifest
#                               (default 256; 0 counts none)
#     TMPDIR                    where the work directory goes (SQLite: holds the one temp copy)
#
# Output: progress and errors on stderr (timestamped); on success the last stdout line is
#   BACKUP_RESULT {"target":..,"tier":..,"kind":..,"bucket":..,"key":..,"bytes":..,"sha256":..,"durationSeconds":..,...}
# Exit codes: 0 ok, 2 bad input, 3 credentials, 4 dump/compress, 5 upload (or retention),
#             6 manifest. Temporary files are removed on every exit.

set -euo pipefail
set +x # never trace: a trace would print the password

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/instance/common.sh
source "$SCRIPT_DIR/common.sh"
LOG_TAG=backup

# gzip -1: on the benchmark's PostgreSQL dump, single-threaded gzip -1 ran 2.3x faster than -6
# for a 13% larger object, and still ran slower than pg_dump itself (README: "Instance backup scripts").
readonly DEFAULT_GZIP_LEVEL=1
readonly DEFAULT_ROW_COUNT_MAX_TABLE_MB=256
readonly KNOWN_VARIABLES=" BK_TARGET BK_KIND BK_TIER BK_BUCKET BK_KMS_KEY_ID BK_RETENTION_DAYS BK_REGION \
BK_DB_HOST BK_DB_PORT BK_DB_NAME BK_DB_USER BK_PASSWORD_SSM_PARAMETER BK_PASSWORD_SECRET_ID BK_PATH \
BK_EXCLUDES BK_INSTANCE_ID BK_OBJECT_LOCK_MODE BK_GZIP_LEVEL BK_COMPRESSOR BK_ROW_COUNT_MAX_TABLE_MB "

# ---------------------------------------------------------------------------------------------
# Inputs

INPUT_ERRORS=()
input_error() { INPUT_ERRORS+=("$1"); }

check_required() { # check_required <variable> <pattern> <what it must be>
  local name=$1 value=${!1:-}
  if [[ -z $value ]]; then
    input_error "$name is required ($3)"
  elif ! [[ $value =~ $2 ]]; then
    input_error "$name='$value' is invalid: must be $3"
  fi
}

check_optional() { # check_optional <variable> <pattern> <what it must be>
  local value=${!1:-}
  if [[ -n $value ]] && ! [[ $value =~ $2 ]]; then
    input_error "$1='$value' is invalid: must be $3"
  fi
}

validate_inputs() {
  check_required BK_TARGET '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$' "1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"
  check_required BK_KIND '^(postgres|mysql|sqlite|files)$' 'one of postgres, mysql, sqlite, files'
  check_required BK_TIER '^[a-z][a-z0-9-]{0,23}$' "a tier name: 1-24 lowercase letters, digits or '-', starting with a letter"
  check_required BK_BUCKET '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' 'an S3 bucket name'
  check_required BK_KMS_KEY_ID '^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+|alias/[A-Za-z0-9/_-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$' 'a KMS key ARN, key ID, alias ARN or alias/name'
  check_required BK_RETENTION_DAYS '^[1-9][0-9]{0,4}$' 'a whole number of days from 1 to 36500'
  if [[ ${BK_RETENTION_DAYS:-} =~ ^[1-9][0-9]{0,4}$ ]] && ((BK_RETENTION_DAYS > 36500)); then
    input_error "BK_RETENTION_DAYS='$BK_RETENTION_DAYS' is invalid: must be a whole number of days from 1 to 36500"
  fi
  check_optional BK_REGION '^[a-z]{2}(-[a-z]+)+-[0-9]+$' 'an AWS region such as eu-west-1'
  check_optional BK_INSTANCE_ID '^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$' 'an instance ID or host name'
  check_optional BK_OBJECT_LOCK_MODE '^(GOVERNANCE|COMPLIANCE)$' 'GOVERNANCE or COMPLIANCE'
  check_optional BK_GZIP_LEVEL '^[1-9]$' 'a gzip level from 1 to 9'
  check_optional BK_COMPRESSOR '^(gzip|pigz)$' 'gzip or pigz'
  check_optional BK_FILES_INDEX_MAX_FILES '^[1-9][0-9]{0,8}$' 'a whole number of files from 1'
  check_optional BK_ROW_COUNT_MAX_TABLE_MB '^[0-9]{1,7}$' 'a whole number of megabytes'
  # The work directory's path reaches sqlite3 inside a quoted dot-command: no quote or line break.
  check_optional TMPDIR '^/[A-Za-z0-9._/@+=,: -]{0,4095}$' 'an absolute path of letters, digits, spaces and . _ / @ + = , : -'

  case "${BK_KIND:-}" in
    postgres | mysql)
      check_required BK_DB_HOST '^[A-Za-z0-9._:/-]+$' 'a host name, IP address or socket directory'
      check_optional BK_DB_PORT '^[0-9]{1,5}$' 'a TCP port from 1 to 65535'
      if [[ ${BK_DB_PORT:-} =~ ^[0-9]{1,5}$ ]] && ((BK_DB_PORT < 1 || BK_DB_PORT > 65535)); then
        input_error "BK_DB_PORT='$BK_DB_PORT' is invalid: must be a TCP port from 1 to 65535"
      fi
      # The document's patterns (lambda/shared/backup-command.ts): a leading '-' would reach the
      # dump tool as an option.
      check_required BK_DB_NAME '^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$' "a database name: 1-63 letters, digits, '_' or '-', not starting with '-'"
      check_required BK_DB_USER '^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,62}$' "a database user name: 1-63 letters, digits, '_', '.', '@' or '-', not starting with '-'"
      if [[ -n ${BK_PASSWORD_SSM_PARAMETER:-} && -n ${BK_PASSWORD_SECRET_ID:-} ]]; then
        input_error 'BK_PASSWORD_SSM_PARAMETER and BK_PASSWORD_SECRET_ID are both set: set exactly one'
      elif [[ -z ${BK_PASSWORD_SSM_PARAMETER:-} && -z ${BK_PASSWORD_SECRET_ID:-} ]]; then
        input_error "BK_PASSWORD_SSM_PARAMETER or BK_PASSWORD_SECRET_ID is required for kind '$BK_KIND': set exactly one"
      fi
      check_optional BK_PASSWORD_SSM_PARAMETER '^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter)?[A-Za-z0-9_./-]{1,2048}$' 'an SSM parameter name or ARN'
      check_optional BK_PASSWORD_SECRET_ID '^[A-Za-z0-9/_+=.@:-]{1,2048}$' 'a Secrets Manager secret name or ARN'
      ;;
    sqlite | files)
      check_required BK_PATH '^/[^[:cntrl:]]*$' 'an absolute path'
      ;;
  esac
  if [[ -n ${BK_EXCLUDES:-} && ${BK_KIND:-} != files ]]; then
    input_error "BK_EXCLUDES is set but BK_KIND is '${BK_KIND:-}': excludes apply to kind 'files' only"
  fi
  if [[ ${BK_EXCLUDES:-} == *[[:cntrl:]]* ]]; then
    input_error 'BK_EXCLUDES is invalid: must not contain control characters'
  fi

  if ((${#INPUT_ERRORS[@]} > 0)); then
    local message more=
    for message in "${INPUT_ERRORS[@]}"; do
      log_error "input: $message"
    done
    ((${#INPUT_ERRORS[@]} > 1)) && more=" (and $((${#INPUT_ERRORS[@]} - 1)) more above)"
    fail "$EXIT_BAD_INPUT" "${INPUT_ERRORS[0]}$more"
  fi

  local name
  for name in "${!BK_@}"; do
    [[ $KNOWN_VARIABLES == *" $name "* ]] || log_warn "ignoring unknown variable $name (a typo?)"
  done
}

# ---------------------------------------------------------------------------------------------
# Where and who

resolve_instance_and_region() {
  if [[ -n ${BK_INSTANCE_ID:-} ]]; then
    INSTANCE=$BK_INSTANCE_ID
  elif INSTANCE=$(imds_get instance-id) && [[ $INSTANCE =~ ^i-[0-9a-f]+$ ]]; then
    :
  else
    INSTANCE=$(hostname 2>/dev/null || uname -n)
    log_info "no EC2 instance metadata: recording the host name '$INSTANCE' as the instance"
  fi

  if [[ -z ${BK_REGION:-} ]]; then
    BK_REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
  fi
  if [[ -z ${BK_REGION:-} ]] && ! aws configure get region >/dev/null 2>&1; then
    local region
    if region=$(imds_get placement/region) && [[ $region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]]; then
      BK_REGION=$region
    else
      fail "$EXIT_BAD_INPUT" 'no AWS region: set BK_REGION (no AWS_REGION, AWS_DEFAULT_REGION, CLI configuration or instance metadata either)'
    fi
  fi
}

# ---------------------------------------------------------------------------------------------
# Tagged output of the row-count queries: one "TAG<TAB>value..." per line

tagged_value() { # tagged_value <file> <tag>: the first value of the first line with that tag
  awk -F '\t' -v tag="$2" '$1 == tag { print $2; exit }' "$1"
}

# {"tableCount":N,"rowCounts":{...}} from TABLES and ROW<TAB>hex(name)<TAB>count lines.
database_json_from() { # database_json_from <file>
  local file=$1 tag hex count first=1 rows=
  local tables
  tables=$(tagged_value "$file" TABLES)
  [[ $tables =~ ^[0-9]+$ ]] || return 1
  while IFS=$'\t' read -r tag hex count; do
    [[ $tag == ROW ]] || continue
    [[ $hex =~ ^([0-9A-Fa-f]{2})+$ && $count =~ ^[0-9]+$ ]] || return 1
    ((first)) || rows+=','
    first=0
    rows+="$(json_str "$(hex_decode "$hex")"):$count"
  done <"$file"
  printf '{"tableCount":%s,"rowCounts":{%s}}' "$tables" "$rows"
}

# ---------------------------------------------------------------------------------------------
# Kinds. Each prepare_* checks the source, connects once, records tool versions, the source's
# size (for --expected-size) and the manifest's counts, and names its PRODUCER: a function that
# writes the raw dump to stdout.

TOOLS_JSON=
add_tool() { # add_tool <name> <version text>
  [[ -n $2 ]] || return 0
  TOOLS_JSON+="${TOOLS_JSON:+,}$(json_str "$1"):$(json_str "$2")"
}

ROW_COUNT_MAX_BYTES=
DATABASE_JSON=
FILES_JSON=
EXPECTED_SIZE=
PRODUCER=

# Grows a raw size estimate into an --expected-size for the compressed stream: gzip of data that
# does not compress adds a little, and the CLI only uses the figure to size parts (> 80 GB).
set_expected_size() { # set_expected_size <raw bytes>
  [[ $1 =~ ^[0-9]+$ ]] || return 0
  EXPECTED_SIZE=$(($1 + $1 / 20 + 1048576))
}

prepare_postgres() {
  require_command "$EXIT_DUMP" pg_dump 'PostgreSQL client tools'
  require_command "$EXIT_DUMP" psql 'PostgreSQL client tools'
  export PGHOST=$BK_DB_HOST PGPORT=${BK_DB_PORT:-5432} PGDATABASE=$BK_DB_NAME PGUSER=$BK_DB_USER
  export PGPASSFILE="$WORK_DIR/pgpass" PGAPPNAME=backup-kit PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-15}
  unset PGPASSWORD PGSERVICE # they would take precedence over the password file
  write_pgpass_file "$PGPASSFILE"
  add_tool pg_dump "$(tool_version pg_dump)"

  # One session holds a REPEATABLE READ snapshot that it exports to pg_dump: the row counts in
  # the manifest are counted in exactly the snapshot that is dumped.
  local out="$WORK_DIR/session.out" err="$WORK_DIR/session.err"
  # User tables (partitions included, partitioned parents and views not: they hold no rows).
  local tables="(SELECT n.nspname, c.relname, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_') AS user_tables"
  # psql runs behind two FIFOs (not a coproc: bash drops a coproc's descriptors and PID as soon
  # as it exits, which a refused login does at once). The shell that starts psql opens both
  # FIFOs before psql itself runs, in this order, so these opens never wait forever.
  mkfifo "$WORK_DIR/session.in" "$WORK_DIR/session.out.fifo"
  psql -X -w -q -A -t -F $'\t' -v ON_ERROR_STOP=1 <"$WORK_DIR/session.in" >"$WORK_DIR/session.out.fifo" 2>"$err" &
  PG_SESSION_CHILD=$!
  BACKGROUND_PIDS+=("$PG_SESSION_CHILD")
  exec {PG_SESSION_IN}>"$WORK_DIR/session.in" {PG_SESSION_OUT}<"$WORK_DIR/session.out.fifo"
  # psql may already have exited (refused login): ignore SIGPIPE for this write only.
  (
    trap '' PIPE
    printf '%s\n' \
      "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;" \
      "SELECT 'SNAPSHOT', pg_export_snapshot();" \
      "SELECT 'SERVER', current_setting('server_version');" \
      "SELECT 'SIZE', pg_database_size(current_database());" \
      "SELECT 'TABLES', count(*) FROM $tables;" \
      "SELECT format('SELECT %L, %L, count(*) FROM %I.%I', 'ROW', encode(convert_to(nspname || '.' || relname, 'UTF8'), 'hex'), nspname, relname) FROM $tables WHERE pg_relation_size(oid) <= $ROW_COUNT_MAX_BYTES ORDER BY 1 \\gexec" \
      "SELECT 'END';" >&"$PG_SESSION_IN"
  ) 2>/dev/null || true
  local line=
  : >"$out"
  while IFS= read -r line <&"$PG_SESSION_OUT"; do
    [[ $line == END ]] && break
    printf '%s\n' "$line" >>"$out"
  done
  if [[ $line != END ]]; then
    wait "$PG_SESSION_CHILD" 2>/dev/null || true
    [[ -s $out ]] && fail "$EXIT_DUMP" "the snapshot and row-count queries failed: $(tail_of "$err" 3)"
    classify_connection_failure "$err" 'password authentication failed|no password supplied' "PostgreSQL at $PGHOST:$PGPORT, database '$PGDATABASE', user '$PGUSER'"
  fi
  PG_SNAPSHOT=$(tagged_value "$out" SNAPSHOT)
  add_tool postgres-server "$(tagged_value "$out" SERVER)"
  set_expected_size "$(tagged_value "$out" SIZE)"
  DATABASE_JSON=$(database_json_from "$out") || fail "$EXIT_DUMP" "unexpected answer to the row-count queries: $(tail_of "$out" 3)"
  log_info "connected to PostgreSQL $(tagged_value "$out" SERVER) at $PGHOST:$PGPORT, database '$PGDATABASE'; snapshot $PG_SNAPSHOT"
  PRODUCER=produce_postgres
}

produce_postgres() {
  pg_dump -w -Fc -Z0 --snapshot="$PG_SNAPSHOT"
}

finish_postgres() { # ends the snapshot session after the dump
  [[ -n ${PG_SESSION_IN:-} ]] || return 0
  (
    trap '' PIPE
    printf 'COMMIT;\n\\q\n' >&"$PG_SESSION_IN"
  ) 2>/dev/null || true
  exec {PG_SESSION_IN}>&- {PG_SESSION_OUT}<&-
  wait "$PG_SESSION_CHILD" 2>/dev/null || true
}

# Database refused the login → credentials (3); anything else (unknown database, no server) → 4.
classify_connection_failure() { # classify_connection_failure <stderr file> <auth error regex> <what>
  if grep -Eqi "$2" "$1"; then
    fail "$EXIT_CREDENTIALS" "$3 refused the password: $(tail_of "$1" 3)"
  fi
  fail "$EXIT_DUMP" "cannot connect to $3: $(tail_of "$1" 3)"
}

prepare_mysql() {
  if command -v mariadb-dump >/dev/null 2>&1; then
    MYSQL_DUMP=mariadb-dump
  elif command -v mysqldump >/dev/null 2>&1; then
    MYSQL_DUMP=mysqldump
  else
    fail "$EXIT_DUMP" "neither 'mariadb-dump' nor 'mysqldump' is installed"
  fi
  if command -v mariadb >/dev/null 2>&1; then
    MYSQL_CLIENT=mariadb
  elif command -v mysql >/dev/null 2>&1; then
    MYSQL_CLIENT=mysql
  else
    fail "$EXIT_DUMP" "neither 'mariadb' nor 'mysql' (the client) is installed"
  fi
  local defaults="$WORK_DIR/client.cnf"
  write_mysql_defaults_file "$defaults"
  # --defaults-extra-file must come first.
  MYSQL_CONNECTION=("--defaults-extra-file=$defaults" "--host=$BK_DB_HOST" "--port=${BK_DB_PORT:-3306}" "--user=$BK_DB_USER")
  add_tool "$MYSQL_DUMP" "$(tool_version "$MYSQL_DUMP")"

  MYSQL_DUMP_OPTIONS=(--single-transaction --routines --triggers --events --hex-blob --no-tablespaces --default-character-set=utf8mb4)
  local help
  help=$("$MYSQL_DUMP" --help 2>/dev/null || true)
  # MySQL's own mysqldump: no GTID_PURGED line that would break a restore into another server,
  # and no column statistics query that MariaDB and older servers do not know.
  [[ $help == *--set-gtid-purged* ]] && MYSQL_DUMP_OPTIONS+=(--set-gtid-purged=OFF)
  [[ $help == *--column-statistics* ]] && MYSQL_DUMP_OPTIONS+=(--column-statistics=0)

  local out="$WORK_DIR/session.out" err="$WORK_DIR/session.err"
  # Counted in one consistent snapshot just before the dump's own (MySQL cannot share one).
  local sql="SET SESSION group_concat_max_len = 67108864;
SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;
START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;
SELECT 'SERVER', VERSION();
SELECT 'SIZE', COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE();
SELECT 'TABLES', COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE';
SET @backup_kit_counts = (SELECT GROUP_CONCAT(CONCAT('SELECT ''ROW'', ''', HEX(TABLE_NAME), ''', COUNT(*) FROM \`', REPLACE(TABLE_NAME, '\`', '\`\`'), '\`') SEPARATOR ' UNION ALL ') FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND COALESCE(DATA_LENGTH, 0) <= $ROW_COUNT_MAX_BYTES);
SET @backup_kit_counts = COALESCE(@backup_kit_counts, 'SELECT 1 FROM DUAL WHERE FALSE');
PREPARE backup_kit_counts FROM @backup_kit_counts;
EXECUTE backup_kit_counts;
DEALLOCATE PREPARE backup_kit_counts;
COMMIT;"
  if ! "$MYSQL_CLIENT" "${MYSQL_CONNECTION[@]}" --batch --skip-column-names --connect-timeout=15 \
    -e "$sql" "$BK_DB_NAME" >"$out" 2>"$err"; then
    classify_connection_failure "$err" 'ERROR 1045' "MySQL at $BK_DB_HOST:${BK_DB_PORT:-3306}, database '$BK_DB_NAME', user '$BK_DB_USER'"
  fi
  add_tool mysql-server "$(tagged_value "$out" SERVER)"
  set_expected_size "$(tagged_value "$out" SIZE)"
  DATABASE_JSON=$(database_json_from "$out") || fail "$EXIT_DUMP" "unexpected answer to the row-count queries: $(tail_of "$out" 3)"
  log_info "connected to MySQL $(tagged_value "$out" SERVER) at $BK_DB_HOST:${BK_DB_PORT:-3306}, database '$BK_DB_NAME'"
  PRODUCER=produce_mysql
}

produce_mysql() {
  "$MYSQL_DUMP" "${MYSQL_CONNECTION[@]}" "${MYSQL_DUMP_OPTIONS[@]}" "$BK_DB_NAME"
}

# SQLite: the online backup API needs a seekable destination, so this is the one kind with a
# temporary copy (in TMPDIR, removed on exit). The copy is taken inside one read transaction,
# so it is a single consistent snapshot however busy the writers are, and is then counted and
# streamed.
prepare_sqlite() {
  require_command "$EXIT_DUMP" sqlite3 'the SQLite command-line shell'
  [[ -f $BK_PATH ]] || fail "$EXIT_DUMP" "BK_PATH '$BK_PATH' is not a file"
  [[ -r $BK_PATH ]] || fail "$EXIT_DUMP" "BK_PATH '$BK_PATH' is not readable"
  local header
  header=$(head -c 15 "$BK_PATH" 2>/dev/null || true)
  [[ $header == 'SQLite format 3' || ! -s $BK_PATH ]] || fail "$EXIT_DUMP" "BK_PATH '$BK_PATH' is not a SQLite database"
  add_tool sqlite3 "$(tool_version sqlite3 -version)"

  local copy_dir="$WORK_DIR/sqlite" size wal_size=0 available
  mkdir "$copy_dir"
  size=$(stat -c %s "$BK_PATH")
  # A writer's checkpoint may remove the WAL between any test and the stat: a missing one is 0 bytes.
  wal_size=$(stat -c %s -- "$BK_PATH-wal" 2>/dev/null || echo 0)
  available=$(df -P -B1 "$copy_dir" | awk 'NR == 2 { print $4 }')
  if [[ $available =~ ^[0-9]+$ ]] && ((available < size + wal_size)); then
    fail "$EXIT_DUMP" "not enough space in ${TMPDIR:-/tmp} for the temporary copy of '$BK_PATH' ($((size + wal_size)) bytes needed, $available free); set TMPDIR to a larger file system"
  fi

  # As root, open the database as its owner: files SQLite creates beside it (-wal, -shm,
  # -journal) must stay writable by the application.
  local run_as=() owner_uid owner_gid
  owner_uid=$(stat -c %u "$BK_PATH")
  owner_gid=$(stat -c %g "$BK_PATH")
  if ((EUID == 0 && owner_uid != 0)); then
    require_command "$EXIT_DUMP" setpriv 'util-linux, to open the database as its owner'
    run_as=(setpriv "--reuid=$owner_uid" "--regid=$owner_gid" --clear-groups --)
    chmod 711 "$WORK_DIR"
    chown "$owner_uid:$owner_gid" "$copy_dir"
  fi

  SQLITE_COPY="$copy_dir/copy.sqlite"
  local err="$WORK_DIR/sqlite.err"
  # BEGIN + a read pins one snapshot; .backup then copies from it in a single pass instead of
  # restarting whenever another process writes.
  if ! printf '%s\n' '.timeout 60000' 'BEGIN;' 'SELECT count(*) FROM sqlite_master;' \
    ".backup main '$SQLITE_COPY'" 'COMMIT;' |
    ${run_as[@]+"${run_as[@]}"} sqlite3 -bail -batch "$BK_PATH" >/dev/null 2>"$err"; then
    fail "$EXIT_DUMP" "sqlite3 .backup of '$BK_PATH' failed: $(tail_of "$err" 3)"
  fi

  # Exact counts on the private copy: identical to what is streamed, and no lock on the source.
  # Two readers open the copy at once; a WAL copy makes them wait on each other, hence the timeout.
  # Tables: not SQLite's own, and not virtual ones (their module may be missing here).
  local out="$WORK_DIR/session.out"
  local tables="sqlite_master WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'"
  if ! {
    printf '.separator "\\t"\n'
    printf '%s\n' "SELECT 'TABLES', count(*) FROM $tables;"
    sqlite3 -readonly -batch -bail -cmd '.timeout 30000' "$SQLITE_COPY" \
      "SELECT 'SELECT ''ROW'', ''' || hex(name) || ''', count(*) FROM \"' || replace(name, '\"', '\"\"') || '\";' FROM $tables ORDER BY name;"
  } | sqlite3 -readonly -batch -bail -cmd '.timeout 30000' "$SQLITE_COPY" >"$out" 2>"$err"; then
    fail "$EXIT_DUMP" "cannot count the rows of the copy of '$BK_PATH': $(tail_of "$err" 3)"
  fi
  DATABASE_JSON=$(database_json_from "$out") || fail "$EXIT_DUMP" "unexpected answer to the row-count queries: $(tail_of "$out" 3)"
  rm -f -- "$SQLITE_COPY-shm" "$SQLITE_COPY-wal"
  set_expected_size "$(stat -c %s "$SQLITE_COPY")"
  log_info "copied SQLite database '$BK_PATH' ($(stat -c %s "$SQLITE_COPY") bytes) through the online backup API"
  PRODUCER=produce_sqlite
}

produce_sqlite() {
  cat -- "$SQLITE_COPY"
}

prepare_files() {
  require_command "$EXIT_DUMP" tar 'GNU tar'
  [[ -d $BK_PATH ]] || fail "$EXIT_DUMP" "BK_PATH '$BK_PATH' is not a directory"
  [[ -r $BK_PATH && -x $BK_PATH ]] || fail "$EXIT_DUMP" "BK_PATH '$BK_PATH' is not readable"
  add_tool tar "$(tool_version tar)"
  TAR_EXCLUDES=()
  if [[ -n ${BK_EXCLUDES:-} ]]; then
    local patterns pattern
    IFS=: read -r -a patterns <<<"$BK_EXCLUDES"
    for pattern in "${patterns[@]}"; do
      [[ -n $pattern ]] && TAR_EXCLUDES+=("--exclude=$pattern")
    done
  fi
  # Size plus a tar header per entry: an upper bound for --expected-size.
  set_expected_size "$(find "$BK_PATH" -printf '%s\n' 2>/dev/null | awk '{ total += $1 + 1024 } END { print total + 0 }')"
  PRODUCER=produce_files
}

produce_files() {
  local status=0
  # The verbose index lists exactly what went into the archive (one line per entry, names
  # escaped), for the manifest's file count and size.
  tar --create --file=- --directory="$BK_PATH" --index-file="$WORK_DIR/tar.index" --verbose --verbose \
    "${TAR_EXCLUDES[@]+"${TAR_EXCLUDES[@]}"}" . || status=$?
  if ((status == 1)); then
    # GNU tar: 1 = some files changed or vanished while being read; the archive holds them as
    # read. 2 = a fatal error (e.g. unreadable files).
    log_warn 'tar: some files changed while they were read; the archive holds them as read'
    return 0
  fi
  return "$status"
}

finish_files() {
  local counts file_count total_bytes directories symlinks hard_links
  # Entries by type (the first letter of the mode): a member cut short swallows the next header,
  # so a directory or link that goes missing shows even when file count and bytes still match.
  counts=$(awk '{ type = substr($0, 1, 1) }
    type == "-" { count++; bytes += $3 } type == "d" { dirs++ } type == "l" { links++ } type == "h" { hard++ }
    END { printf "%d %d %d %d %d", count, bytes, dirs, links, hard }' "$WORK_DIR/tar.index") ||
    fail "$EXIT_DUMP" 'cannot read the archive index'
  read -r file_count total_bytes directories symlinks hard_links <<<"$counts"
  FILES_JSON=$(printf '{"fileCount":%d,"totalBytes":%d,"directoryCount":%d,"symlinkCount":%d,"hardLinkCount":%d' \
    "$file_count" "$total_bytes" "$directories" "$symlinks" "$hard_links")
  local index=''
  [[ -e $WORK_DIR/files-index.out ]] && index=$(cat "$WORK_DIR/files-index.out")
  if [[ $index =~ ^([0-9]+)\ ([0-9a-f]{64})$ ]]; then
    FILES_JSON+=$(printf ',"index":{"count":%d,"sha256":"%s"}' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}")
  elif command -v python3 >/dev/null 2>&1; then
    log_warn "the per-file index could not be taken, so the manifest has none (the archive's content digest still covers every file): $(tail_of "$WORK_DIR/files-index.err" 3)"
  else
    log_info 'python3 is not installed: the manifest has no per-file index (the archive content digest still covers every file)'
  fi
  FILES_JSON+='}'
}

# ---------------------------------------------------------------------------------------------
# Compress, hash, count and upload in one stream

# pigz writes the same gzip format on every core; gzip is the fallback present everywhere.
select_compressor() {
  GZIP_LEVEL=${BK_GZIP_LEVEL:-$DEFAULT_GZIP_LEVEL}
  COMPRESSOR=${BK_COMPRESSOR:-}
  if [[ -z $COMPRESSOR ]]; then
    COMPRESSOR=gzip
    command -v pigz >/dev/null 2>&1 && COMPRESSOR=pigz
  fi
  require_command "$EXIT_DUMP" "$COMPRESSOR" "BK_COMPRESSOR=$COMPRESSOR"
  add_tool "$COMPRESSOR" "$(tool_version "$COMPRESSOR")"
  add_tool aws "$(tool_version aws)"
  add_tool bash "$BASH_VERSION"
}

compress_stream() {
  # Lower priority: the instance's own workload comes first.
  nice -n 10 "$COMPRESSOR" -n "-$GZIP_LEVEL"
}

# Lets the stream through; at its end lets the uploader finish only if every stage upstream
# succeeded. Otherwise it stops the uploader before closing its input, so that a failed dump
# never completes an upload (a truncated object could not be deleted under Object Lock).
stream_gate() { # stream_gate <upstream status file> <uploader pid file> <marker file>
  cat
  local statuses
  statuses=$(cat "$1" 2>/dev/null || true)
  [[ $statuses =~ ^(0 )*0$ ]] && return 0
  local pid='' state i
  for ((i = 0; i < 100; i++)); do
    pid=$(cat "$2" 2>/dev/null || true)
    [[ -n $pid ]] && break
    sleep 0.1
  done
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null || true)
    [[ -z $state || $state == Z ]] && break
    sleep 0.1
  done
  ((i < 100)) || kill -KILL "$pid" 2>/dev/null || true
  : >"$3"
  return 1
}

# Aborts a multipart upload of OBJECT_KEY left by a stopped uploader (best effort: the bucket's
# lifecycle rule aborts what this misses).
abort_incomplete_upload() {
  local ids id
  # The upload this run started (the uploader records its ID); else any left under the key.
  if [[ -s $WORK_DIR/upload.id ]]; then
    ids=$(cat "$WORK_DIR/upload.id")
  elif ! ids=$(aws_cli s3api list-multipart-uploads --bucket "$BK_BUCKET" --prefix "$OBJECT_KEY" \
    --query "Uploads[?Key=='$OBJECT_KEY'].UploadId" --output text 2>/dev/null); then
    log_warn "could not list incomplete multipart uploads of $OBJECT_KEY; the bucket's lifecycle rule will abort any"
    return 0
  fi
  for id in $ids; do
    [[ $id == None ]] && continue
    if aws_cli s3api abort-multipart-upload --bucket "$BK_BUCKET" --key "$OBJECT_KEY" --upload-id "$id" >/dev/null 2>&1; then
      log_info "aborted the incomplete multipart upload of $OBJECT_KEY"
    else
      log_warn "could not abort the incomplete multipart upload $id of $OBJECT_KEY; the bucket's lifecycle rule will"
    fi
  done
}

# The size of the upload's parts: at least 64 MiB, more for a large source (S3 allows 10,000
# parts; the estimate may be low, so parts are sized for 9,000).
part_bytes() {
  local minimum=$((64 * 1048576)) wanted=0
  [[ $EXPECTED_SIZE =~ ^[0-9]+$ ]] && wanted=$(((EXPECTED_SIZE / 9000 / 1048576 + 1) * 1048576))
  echo $((wanted > minimum ? wanted : minimum))
}

# Reads the compressed stream on stdin and stores it as OBJECT_KEY with a multipart upload made
# here, not by `aws s3 cp`: every part carries its SHA-256 (S3 requires a checksum on uploads to a
# locked bucket) and the upload completes only with If-None-Match: *, so it never makes a new
# version of an existing key (backups are written once; the bucket policy refuses anything else).
multipart_upload() {
  local upload_id part=0 bytes hex checksum etag part_file="$WORK_DIR/part" parts="$WORK_DIR/parts.json" size
  size=$(part_bytes)
  # The lock is part of the upload: the version is born with the tier's mode and date, so no later
  # call has to change a lock (which S3 may refuse, and which no writer is allowed).
  upload_id=$(aws_cli s3api create-multipart-upload --bucket "$BK_BUCKET" --key "$OBJECT_KEY" \
    --server-side-encryption aws:kms --ssekms-key-id "$BK_KMS_KEY_ID" --content-type application/gzip \
    --object-lock-mode "$LOCK_MODE" --object-lock-retain-until-date "$RETAIN_UNTIL" \
    --checksum-algorithm SHA256 --query UploadId --output text) || return 1
  printf '%s' "$upload_id" >"$WORK_DIR/upload.id"
  printf '{"Parts":[' >"$parts"
  while :; do
    # GNU head -c reads exactly that many bytes from the pipe (less only at its end).
    head -c "$size" >"$part_file" || return 1
    bytes=$(stat -c %s "$part_file")
    ((bytes > 0 || part == 0)) || break
    part=$((part + 1))
    hex=$(sha256_stdin <"$part_file")
    checksum=$(hex_decode "$hex" | base64 -w 0)
    etag=$(aws_cli s3api upload-part --bucket "$BK_BUCKET" --key "$OBJECT_KEY" --upload-id "$upload_id" \
      --part-number "$part" --body "$part_file" --checksum-sha256 "$checksum" --query ETag --output text) || return 1
    ((part == 1)) || printf ',' >>"$parts"
    printf '{"PartNumber":%d,"ETag":%s,"ChecksumSHA256":"%s"}' "$part" "$(json_str "$etag")" "$checksum" >>"$parts"
    ((bytes == size)) || break
  done
  rm -f -- "$part_file"
  printf ']}' >>"$parts"
  aws_cli s3api complete-multipart-upload --bucket "$BK_BUCKET" --key "$OBJECT_KEY" --upload-id "$upload_id" \
    --multipart-upload "file://$parts" --if-none-match '*' >/dev/null
}

stream_to_s3() {
  local sha_fifo="$WORK_DIR/sha256.fifo" count_fifo="$WORK_DIR/bytes.fifo"
  local content_sha_fifo="$WORK_DIR/content-sha256.fifo" content_count_fifo="$WORK_DIR/content-bytes.fifo"
  local content_outputs=("$content_sha_fifo" "$content_count_fifo") index_pid=''
  local status_file="$WORK_DIR/stream.status" uploader_pid_file="$WORK_DIR/uploader.pid"
  local stopped_file="$WORK_DIR/uploader.stopped" outer_status_file="$WORK_DIR/outer.status"
  mkfifo "$sha_fifo" "$count_fifo" "$content_sha_fifo" "$content_count_fifo"
  # The hash and the byte count read copies of the compressed stream from tee; as plain
  # background jobs (not process substitutions) their exit status is waited for and checked.
  sha256_stdin <"$sha_fifo" >"$WORK_DIR/sha256.out" &
  local sha_pid=$!
  wc -c <"$count_fifo" >"$WORK_DIR/bytes.out" &
  local count_pid=$!
  # The content digest: the same of the dump itself, as the dump tool wrote it and before it is
  # compressed. The verifier and restores recompute it from the stored object, so damage done
  # between reading the data and storing it shows even when the stored object and its own hash agree.
  sha256_stdin <"$content_sha_fifo" >"$WORK_DIR/content-sha256.out" &
  local content_sha_pid=$!
  wc -c <"$content_count_fifo" >"$WORK_DIR/content-bytes.out" &
  local content_count_pid=$!
  BACKGROUND_PIDS+=("$sha_pid" "$count_pid" "$content_sha_pid" "$content_count_pid")
  if [[ $BK_KIND == files ]] && command -v python3 >/dev/null 2>&1; then
    # The per-file index reads a third copy of the tar stream; whatever becomes of it, the rest of
    # its copy is read to the end, so that it can never stop the stream.
    local index_fifo="$WORK_DIR/files-index.fifo"
    mkfifo "$index_fifo"
    content_outputs+=("$index_fifo")
    {
      python3 -c "$FILES_INDEX_PY" tar >"$WORK_DIR/files-index.out" 2>"$WORK_DIR/files-index.err" || true
      cat >/dev/null
    } <"$index_fifo" &
    index_pid=$!
    BACKGROUND_PIDS+=("$index_pid")
  fi

  log_info "streaming to s3://$BK_BUCKET/$OBJECT_KEY ($COMPRESSOR -$GZIP_LEVEL, SSE-KMS, parts of $(($(part_bytes) / 1048576)) MiB, written once)"
  local started_ms
  started_ms=$(now_ms)
  # The stream runs as a background job that this shell waits for, so that a TERM (the
  # document's timeout) is handled at once: the EXIT trap then stops the uploader before its
  # input ends (see STOP_ON_FAILURE_PID_FILE), and no partial object is completed.
  STOP_ON_FAILURE_PID_FILE=$uploader_pid_file
  (
    set +e
    (
      "$PRODUCER" 2>"$WORK_DIR/dump.err" | tee -- "${content_outputs[@]}" 2>"$WORK_DIR/content-tee.err" |
        compress_stream 2>"$WORK_DIR/compress.err" | tee -- "$sha_fifo" "$count_fifo" 2>"$WORK_DIR/tee.err"
      printf '%s\n' "${PIPESTATUS[*]}" >"$status_file"
    ) | stream_gate "$status_file" "$uploader_pid_file" "$stopped_file" | (
      printf '%s' "$BASHPID" >"$uploader_pid_file"
      # Without the caller's traps a TERM from the gate ends this at once, before it completes.
      trap - TERM INT HUP
      multipart_upload >"$WORK_DIR/upload.out" 2>"$WORK_DIR/upload.err"
    )
    printf '%s\n' "${PIPESTATUS[*]}" >"$outer_status_file"
  ) &
  local stream_pid=$!
  wait "$stream_pid" || true
  STOP_ON_FAILURE_PID_FILE=
  local outer=(x x x)
  read -r -a outer <"$outer_status_file" || true
  local statuses dump_status=x content_tee_status=x compress_status=x tee_status=x
  statuses=$(cat "$status_file" 2>/dev/null || true)
  read -r dump_status content_tee_status compress_status tee_status <<<"$statuses" || true
  [[ -s $WORK_DIR/dump.err ]] && log_info "dump stderr: $(tail_of "$WORK_DIR/dump.err" 5)"

  if [[ -e $stopped_file ]]; then
    abort_incomplete_upload
    if [[ $dump_status != 0 ]]; then
      fail "$EXIT_DUMP" "the $BK_KIND dump failed (exit $dump_status); nothing was stored: $(tail_of "$WORK_DIR/dump.err" 5)"
    elif [[ $compress_status != 0 ]]; then
      fail "$EXIT_DUMP" "$COMPRESSOR failed (exit $compress_status); nothing was stored: $(tail_of "$WORK_DIR/compress.err" 3)"
    elif [[ $content_tee_status != 0 ]]; then
      fail "$EXIT_DUMP" "computing the content digest failed (tee exit $content_tee_status); nothing was stored: $(tail_of "$WORK_DIR/content-tee.err" 3)"
    fi
    fail "$EXIT_DUMP" "computing the checksum failed (tee exit $tee_status); nothing was stored: $(tail_of "$WORK_DIR/tee.err" 3)"
  fi
  if [[ ${outer[2]} != 0 ]]; then
    abort_incomplete_upload
    if grep -q 'PreconditionFailed' "$WORK_DIR/upload.err" 2>/dev/null; then
      fail "$EXIT_UPLOAD" "s3://$BK_BUCKET/$OBJECT_KEY already exists: backups are written once, so this one was not stored (two runs in the same second?)"
    elif grep -qi 'unknown options.*if-none-match\|checksum-sha256' "$WORK_DIR/upload.err" 2>/dev/null; then
      fail "$EXIT_UPLOAD" "this AWS CLI ($(tool_version aws)) cannot send If-None-Match or part checksums, which writing backups once to a locked bucket needs; install a current AWS CLI v2 (or v1): $(tail_of "$WORK_DIR/upload.err" 2)"
    fi
    fail "$EXIT_UPLOAD" "S3 refused the upload to s3://$BK_BUCKET/$OBJECT_KEY (aws exit ${outer[2]}): $(tail_of "$WORK_DIR/upload.err" 3)"
  fi
  if [[ $statuses != "0 0 0 0" || ${outer[0]} != 0 || ${outer[1]} != 0 ]]; then
    fail "$EXIT_DUMP" "the stream ended abnormally (stages: ${statuses:-unknown}; gate ${outer[1]})"
  fi

  local hash_status=0 count_status=0
  wait "$sha_pid" || hash_status=$?
  wait "$count_pid" || count_status=$?
  wait "$content_sha_pid" || hash_status=$?
  wait "$content_count_pid" || count_status=$?
  # The per-file index, when it runs: its result is checked where it is used.
  [[ -z $index_pid ]] || wait "$index_pid" || true
  BACKGROUND_PIDS=()
  SHA256=$(cut -d ' ' -f 1 "$WORK_DIR/sha256.out" 2>/dev/null || true)
  BYTES=$(tr -d ' \n' <"$WORK_DIR/bytes.out" 2>/dev/null || true)
  CONTENT_SHA256=$(cut -d ' ' -f 1 "$WORK_DIR/content-sha256.out" 2>/dev/null || true)
  CONTENT_BYTES=$(tr -d ' \n' <"$WORK_DIR/content-bytes.out" 2>/dev/null || true)
  if ((hash_status != 0 || count_status != 0)) || ! [[ $SHA256 =~ ^[0-9a-f]{64}$ && $BYTES =~ ^[0-9]+$ ]] ||
    ! [[ $CONTENT_SHA256 =~ ^[0-9a-f]{64}$ && $CONTENT_BYTES =~ ^[0-9]+$ ]]; then
    FAILURE_NOTES+=("s3://$BK_BUCKET/$OBJECT_KEY was uploaded but has no manifest: the backup is incomplete (Object Lock keeps the object until its retention ends; the verifier reports it)")
    fail "$EXIT_DUMP" "the checksums or byte counts of the stream could not be computed (hash exit $hash_status, wc exit $count_status)"
  fi
  local seconds
  seconds=$(seconds_since "$started_ms")
  log_info "uploaded $BYTES bytes in ${seconds}s, sha256 $SHA256 (content: $CONTENT_BYTES bytes, sha256 $CONTENT_SHA256)"
}

# ---------------------------------------------------------------------------------------------
# Retention and manifest

check_stored() {
  FAILURE_NOTES+=("s3://$BK_BUCKET/$OBJECT_KEY was uploaded but has no manifest: the backup is incomplete (Object Lock keeps the object until its retention ends; the verifier reports it)")
  local head err="$WORK_DIR/head.err"
  # The exact version just written, and a check that S3 holds what was streamed, locked as asked.
  head=$(aws_cli s3api head-object --bucket "$BK_BUCKET" --key "$OBJECT_KEY" \
    --query '[VersionId, ContentLength, ServerSideEncryption, ObjectLockMode, ObjectLockRetainUntilDate]' --output text 2>"$err") ||
    fail "$EXIT_UPLOAD" "cannot read back s3://$BK_BUCKET/$OBJECT_KEY: $(tail_of "$err" 3)"
  local stored_bytes sse mode until
  read -r VERSION_ID stored_bytes sse mode until <<<"$head"
  if [[ -z $VERSION_ID || $VERSION_ID == None || $VERSION_ID == null ]]; then
    fail "$EXIT_UPLOAD" "s3://$BK_BUCKET/$OBJECT_KEY has no version ID: the bucket is not versioned, so Object Lock cannot protect it"
  fi
  [[ $stored_bytes == "$BYTES" ]] ||
    fail "$EXIT_UPLOAD" "s3://$BK_BUCKET/$OBJECT_KEY holds $stored_bytes bytes but $BYTES were streamed"
  [[ $sse == aws:kms ]] ||
    fail "$EXIT_UPLOAD" "s3://$BK_BUCKET/$OBJECT_KEY is not SSE-KMS encrypted (ServerSideEncryption: $sse)"

  local until_epoch
  until_epoch=$(date -u -d "$until" +%s 2>/dev/null) || until_epoch=0
  if [[ $mode != "$LOCK_MODE" ]] || ((until_epoch < $(date -u -d "$RETAIN_UNTIL" +%s))); then
    fail "$EXIT_UPLOAD" "s3://$BK_BUCKET/$OBJECT_KEY (version $VERSION_ID) is locked $mode until $until, not $LOCK_MODE until $RETAIN_UNTIL as requested"
  fi
  log_info "retention: $LOCK_MODE until $RETAIN_UNTIL on version $VERSION_ID"
}

write_manifest() {
  FINISHED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local manifest="$WORK_DIR/manifest.json"
  {
    printf '{"manifestVersion":1'
    printf ',"target":%s,"kind":%s,"tier":%s' "$(json_str "$BK_TARGET")" "$(json_str "$BK_KIND")" "$(json_str "$BK_TIER")"
    printf ',"instance":%s,"bucket":%s,"key":%s' "$(json_str "$INSTANCE")" "$(json_str "$BK_BUCKET")" "$(json_str "$OBJECT_KEY")"
    printf ',"startedAt":"%s","finishedAt":"%s"' "$STARTED_AT" "$FINISHED_AT"
    printf ',"bytes":%s,"sha256":"%s","compression":"gzip","format":"%s"' "$BYTES" "$SHA256" "$FORMAT"
    printf ',"retainUntil":"%s","tools":{%s}' "$RETAIN_UNTIL" "$TOOLS_JSON"
    [[ -n $DATABASE_JSON ]] && printf ',"database":%s' "$DATABASE_JSON"
    [[ -n $FILES_JSON ]] && printf ',"files":%s' "$FILES_JSON"
    printf ',"content":{"bytes":%s,"sha256":"%s"}' "$CONTENT_BYTES" "$CONTENT_SHA256"
    printf '}\n'
  } >"$manifest"
  local err="$WORK_DIR/manifest.err" checksum
  # An explicit checksum: S3 refuses an upload to a locked bucket without one, and a CLI set to
  # request_checksum_calculation = when_required would send none of its own.
  checksum=$(hex_decode "$(sha256_stdin <"$manifest")" | base64 -w 0)
  aws_cli s3api put-object --bucket "$BK_BUCKET" --key "$OBJECT_KEY.manifest.json" --body "$manifest" \
    --checksum-sha256 "$checksum" \
    --content-type application/json --server-side-encryption aws:kms --ssekms-key-id "$BK_KMS_KEY_ID" \
    --object-lock-mode "$LOCK_MODE" --object-lock-retain-until-date "$RETAIN_UNTIL" --if-none-match '*' >/dev/null 2>"$err" ||
    fail "$EXIT_MANIFEST" "cannot write s3://$BK_BUCKET/$OBJECT_KEY.manifest.json: $(tail_of "$err" 3)"
  FAILURE_NOTES=()
  log_info "manifest written: s3://$BK_BUCKET/$OBJECT_KEY.manifest.json"
}

# ---------------------------------------------------------------------------------------------

main() {
  local started_ms
  started_ms=$(now_ms)
  validate_inputs
  ROW_COUNT_MAX_BYTES=$((${BK_ROW_COUNT_MAX_TABLE_MB:-$DEFAULT_ROW_COUNT_MAX_TABLE_MB} * 1024 * 1024))
  make_work_dir
  resolve_instance_and_region

  local epoch
  epoch=$(date -u +%s)
  STARTED_AT=$(iso_utc "$epoch")
  RETAIN_UNTIL=$(iso_utc $((epoch + BK_RETENTION_DAYS * 86400)))
  LOCK_MODE=${BK_OBJECT_LOCK_MODE:-GOVERNANCE}
  local extension
  case "$BK_KIND" in
    postgres) extension=pgdump.gz FORMAT=pg_custom ;;
    mysql) extension=sql.gz FORMAT=mysql_sql ;;
    sqlite) extension=sqlite.gz FORMAT=sqlite ;;
    files) extension=tar.gz FORMAT=tar ;;
  esac
  OBJECT_KEY="$BK_TIER/$BK_TARGET/$(date -u -d "@$epoch" +%Y/%m/%d)/${BK_TARGET}_$(date -u -d "@$epoch" +%Y%m%dT%H%M%SZ).$extension"
  log_info "backing up target '$BK_TARGET' ($BK_KIND, tier $BK_TIER) on $INSTANCE"

  require_command "$EXIT_UPLOAD" aws 'the AWS CLI v1 or v2'
  require_conditional_writes "$EXIT_UPLOAD"
  if [[ $BK_KIND == postgres || $BK_KIND == mysql ]]; then
    fetch_password "${BK_PASSWORD_SSM_PARAMETER:-}" "${BK_PASSWORD_SECRET_ID:-}"
  fi
  select_compressor
  "prepare_$BK_KIND"
  unset DB_PASSWORD # from here on only the 0600 files hold it

  stream_to_s3
  case "$BK_KIND" in
    postgres) finish_postgres ;;
    files) finish_files ;;
  esac
  check_stored
  write_manifest

  printf 'BACKUP_RESULT {"target":%s,"tier":%s,"kind":%s,"bucket":%s,"key":%s,"versionId":%s,"manifestKey":%s,"instance":%s,"bytes":%s,"sha256":"%s","retainUntil":"%s","durationSeconds":%s}\n' \
    "$(json_str "$BK_TARGET")" "$(json_str "$BK_TIER")" "$(json_str "$BK_KIND")" "$(json_str "$BK_BUCKET")" \
    "$(json_str "$OBJECT_KEY")" "$(json_str "$VERSION_ID")" "$(json_str "$OBJECT_KEY.manifest.json")" \
    "$(json_str "$INSTANCE")" "$BYTES" "$SHA256" "$RETAIN_UNTIL" "$(seconds_since "$started_ms")"
}

main "$@"
