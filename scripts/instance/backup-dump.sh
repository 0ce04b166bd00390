# shellcheck shell=bash disable=SC2154,SC2034
# Sourced by backup.sh: how each kind of target is checked, counted and dumped (its variables are backup.sh's).
# ---------------------------------------------------------------------------------------------
# Tagged output of the row-count queries: one "TAG<TAB>value..." per line

tagged_value() { # tagged_value <file> <tag>: the first value of the first line with that tag
  local tag value rest
  while IFS=$'\t' read -r tag value rest || [[ -n $tag ]]; do
    if [[ $tag == "$2" ]]; then
      printf '%s\n' "$value"
      return 0
    fi
  done <"$1"
}

# {"tableCount":N,"rowCounts":{...}} from TABLES and ROW<TAB>hex(name)<TAB>count lines.
database_json_from() { # database_json_from <file>
  local file=$1 tag hex count first=1 rows='' name
  local tables
  tables=$(tagged_value "$file" TABLES)
  [[ $tables =~ ^[0-9]+$ ]] || return 1
  while IFS=$'\t' read -r tag hex count; do
    [[ $tag == ROW ]] || continue
    [[ $hex =~ ^([0-9A-Fa-f]{2})+$ && $count =~ ^[0-9]+$ ]] || return 1
    ((first)) || rows+=','
    first=0
    json_quote name "$(hex_decode "$hex")"
    rows+="$name:$count"
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
  json_quote_each "$1" "$2"
  TOOLS_JSON+="${TOOLS_JSON:+,}${JSON_QUOTED[0]}:${JSON_QUOTED[1]}"
}

ROW_COUNT_MAX_BYTES=
DATABASE_JSON=
FILES_JSON='' FILES_PATHS_JSON=''
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
  # shellcheck disable=SC2153 # BK_PATH is a setting from the environment, not a misspelt BK_PATHS
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
  local path roots=()
  if [[ -n ${BK_PATHS:-} ]]; then
    # Several paths: one archive rooted at /, each path a member ./<path> (a symbolic link is
    # archived as the link), so that a restore can put each back in its own place.
    TAR_ROOT=/ TAR_MEMBERS=() FILES_PATHS_JSON=''
    local paths
    IFS=: read -r -a paths <<<"$BK_PATHS"
    for path in "${paths[@]}"; do
      [[ $path == /?* && "$path/" != *//* && "$path/" != */./* && "$path/" != */../* ]] ||
        fail "$EXIT_DUMP" "BK_PATHS: '$path' is not a plain absolute path below / (no empty, '.' or '..' segment)"
      path=${path%/}
      [[ -e $path || -L $path ]] || fail "$EXIT_DUMP" "BK_PATHS: '$path' does not exist"
      [[ -L $path || (-r $path && (! -d $path || -x $path)) ]] || fail "$EXIT_DUMP" "BK_PATHS: '$path' is not readable"
      TAR_MEMBERS+=(".$path") roots+=("$path")
      FILES_PATHS_JSON+="${FILES_PATHS_JSON:+,}$(json_str "$path")"
    done
  else
    [[ -d $BK_PATH ]] || fail "$EXIT_DUMP" "BK_PATH '$BK_PATH' is not a directory"
    [[ -r $BK_PATH && -x $BK_PATH ]] || fail "$EXIT_DUMP" "BK_PATH '$BK_PATH' is not readable"
    TAR_ROOT=$BK_PATH TAR_MEMBERS=(.) roots=("$BK_PATH")
  fi
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
  set_expected_size "$(find "${roots[@]}" -printf '%s\n' 2>/dev/null | awk '{ total += $1 + 1024 } END { print total + 0 }')"
  PRODUCER=produce_files
}

produce_files() {
  local status=0
  # The verbose index lists exactly what went into the archive (one line per entry, names
  # escaped), for the manifest's file count and size.
  tar --create --file=- --directory="$TAR_ROOT" --index-file="$WORK_DIR/tar.index" --verbose --verbose \
    "${TAR_EXCLUDES[@]+"${TAR_EXCLUDES[@]}"}" -- "${TAR_MEMBERS[@]}" || status=$?
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
  [[ -z ${FILES_PATHS_JSON:-} ]] || FILES_JSON+=",\"paths\":[$FILES_PATHS_JSON]"
  FILES_JSON+='}'
}

