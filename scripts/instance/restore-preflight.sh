# shellcheck shell=bash disable=SC2154,SC2034
# Sourced by restore.sh: RS_MODE=check, what an instance needs before a restore onto it (a new
# server, a standby), checked without changing anything: the backup readable (restore.sh has
# read its manifest by then), room to download it, the tools for the kind and their versions,
# the database server reachable with the target's settings and allowed to create a database,
# the directory that holds a SQLite or files target and its free space. Prints
# PREFLIGHT_RESULT {"target","kind","key","ready","checks":[{name,status,detail}]} and exits 0
# when the checks ran, ready or not.

# The reason a failed step gave (what `fail` logged), from its error output.
failure_reason() { # failure_reason <stderr file>
  local line
  line="$(grep ' ERROR: ' "$1" | head -n 1 || true)"
  line="${line#*failed (exit *): }"
  printf '%s' "${line:-$(tail -n 1 "$1" 2>/dev/null)}"
}

# The major version a tool line states after its product name: "pg_dump (PostgreSQL) 16.4" -> 16.
major_version() { [[ "$1" =~ \)\ ([0-9]+) ]] && printf '%s' "${BASH_REMATCH[1]}"; }

free_bytes_at() { printf '%s' "$(($(df -Pk "$1" | awk 'NR == 2 { print $4 }') * 1024))"; }

preflight_postgres() {
  local missing=() tool dump_major restore_major err="$work_dir/preflight.err"
  json_fields "$manifest" tools.pg_dump || true
  dump_major="$(major_version "${JSON_FIELDS[0]:-}")"
  for tool in psql pg_restore; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    record_check tools failed "${missing[*]} not installed: install the PostgreSQL client tools${dump_major:+ (version $dump_major or later)} first"
  else
    restore_major="$(major_version "$(tool_version pg_restore)")"
    if [ -n "$dump_major" ] && [ -n "$restore_major" ] && [ "$restore_major" -lt "$dump_major" ]; then
      record_check tools failed "pg_restore $restore_major cannot read a dump made by pg_dump $dump_major: install the PostgreSQL $dump_major client tools first"
    else
      record_check tools passed "psql and pg_restore ${restore_major:-?} (the backup was made by pg_dump ${dump_major:-?})"
    fi
  fi
  if ! (pg_connect) >/dev/null 2>"$err"; then
    record_check connect failed "$(failure_reason "$err"): install and start PostgreSQL with the target's user and password first"
    return
  fi
  pg_connect
  record_check connect passed "connected to PostgreSQL $(pg_admin -c 'SHOW server_version' 2>/dev/null) at $BK_DB_HOST:$BK_DB_PORT as $db_user"
  if [ "$(pg_admin -c 'SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user' 2>/dev/null)" = t ]; then
    record_check createDatabase passed "$db_user may create databases"
  else
    record_check createDatabase failed "$db_user may not create databases: grant it CREATEDB, or name a restore user that has it"
  fi
  if pg_exists "$BK_DB_NAME"; then
    record_check liveData passed "database $BK_DB_NAME exists: replace takes a safety backup of it first and keeps it aside"
  else
    record_check liveData passed "database $BK_DB_NAME does not exist: replace puts the restored copy in its place (nothing to keep)"
  fi
}

preflight_mysql() {
  local err="$work_dir/preflight.err"
  if ! (my_connect) >/dev/null 2>"$err"; then
    record_check connect failed "$(failure_reason "$err"): install and start MySQL or MariaDB with the target's user and password first"
    return
  fi
  my_connect
  record_check connect passed "connected to $(my_sql -e 'SELECT VERSION()' 2>/dev/null) at $BK_DB_HOST:$BK_DB_PORT as $db_user"
  if my_exists "$BK_DB_NAME"; then
    record_check liveData passed "schema $BK_DB_NAME exists: replace takes a safety backup of it first and keeps its tables aside"
  else
    record_check liveData passed "schema $BK_DB_NAME does not exist: replace puts the restored tables in its place (nothing to keep)"
  fi
}

preflight_path() { # preflight_path <tool> <bytes the restored copy needs, at least>
  local parent="${live_path%/*}" free
  parent="${parent:-/}"
  if command -v "$1" >/dev/null 2>&1; then record_check tools passed "$1: $(tool_version "$1" "$([ "$1" = sqlite3 ] && echo -version || echo --version)")"; else record_check tools failed "$1 is not installed: install it first"; fi
  if [ ! -d "$parent" ]; then
    record_check directory failed "$parent does not exist: deploy the application (its directories) first"
    return
  fi
  free="$(free_bytes_at "$parent")"
  if [ "$free" -lt "$2" ]; then
    record_check space failed "$parent has $((free / 1048576)) MiB free; the restored copy needs at least $(($2 / 1048576)) MiB"
  else
    record_check space passed "$parent has $((free / 1048576)) MiB free (the restored copy needs at least $(($2 / 1048576)) MiB)"
  fi
  if [ -e "$live_path" ] || [ -L "$live_path" ]; then
    record_check liveData passed "$live_path exists: replace takes a safety backup of it first and keeps it aside"
  else
    record_check liveData passed "$live_path does not exist: replace puts the restored copy in its place (nothing to keep)"
  fi
}

# Several paths: each path's directory exists, or can be created (what exists above it is root's);
# the checked copy is extracted in the work directory first, then moved beside each path.
preflight_path_set() {
  local path parent created='' refused='' present='' absent='' free
  if command -v tar >/dev/null 2>&1; then record_check tools passed "tar: $(tool_version tar --version)"; else record_check tools failed 'tar is not installed: install it first'; fi
  for path in "${live_paths[@]}"; do
    parent="${path%/*}"
    if [ -e "$path" ] || [ -L "$path" ]; then present+="${present:+, }$path"; else absent+="${absent:+, }$path"; fi
    [ ! -d "${parent:-/}" ] || continue
    case ", $created, $refused, " in *", $parent, "*) continue ;; esac
    if (check_owned_path BK_PATHS "$parent") 2>/dev/null; then created+="${created:+, }$parent"; else refused+="${refused:+, }$parent"; fi
  done
  if [ -n "$refused" ]; then
    record_check directory failed "$refused does not exist and what exists above it is not root's alone: create it first"
  else
    record_check directory passed "$([ -n "$created" ] && echo "replace creates $created and what is missing above them (root's, 0755)" || echo 'every path'"'"'s directory exists')"
  fi
  free="$(free_bytes_at "$work_dir")"
  if [ "$free" -lt "$((expected_bytes + ${manifest_total_bytes:-0}))" ]; then
    record_check space failed "$work_dir has $((free / 1048576)) MiB free; the backup and its extracted files need $(((expected_bytes + ${manifest_total_bytes:-0}) / 1048576)) MiB"
  else
    record_check space passed "$work_dir has $((free / 1048576)) MiB free for the backup and its extracted files"
  fi
  record_check liveData passed "here: ${present:-none of the paths}; missing: ${absent:-none}. Replace takes a safety backup of what is here and keeps it aside; a missing path is simply put in place"
}

preflight() {
  local free ready
  record_check backup passed "read the manifest of $key: this instance may read the target's backups"
  free="$(free_bytes_at "$work_dir")"
  if [ "$free" -lt "$expected_bytes" ]; then
    record_check workSpace failed "$work_dir has $((free / 1048576)) MiB free; the backup needs $((expected_bytes / 1048576)) MiB (set the target's workDirectory)"
  else
    record_check workSpace passed "$work_dir has $((free / 1048576)) MiB free for the $((expected_bytes / 1048576)) MiB backup"
  fi
  case "$BK_KIND" in
    postgres) preflight_postgres ;;
    mysql) preflight_mysql ;;
    sqlite) preflight_path sqlite3 "$expected_bytes" ;;
    files) if [ "$path_set" = 1 ]; then preflight_path_set; else preflight_path tar "${manifest_total_bytes:-$expected_bytes}"; fi ;;
  esac
  ready="$(json_bool "$([ "${#failed_checks[@]}" = 0 ] && echo 1)")"
  log_info "preflight of $BK_TARGET: $([ "$ready" = true ] && echo ready || echo "NOT ready: $(IFS=';'; printf '%s' "${failed_checks[*]}")")"
  json_quote_each "$BK_TARGET" "$BK_KIND" "$key"
  printf 'PREFLIGHT_RESULT {"target":%s,"kind":%s,"key":%s,"ready":%s,"checks":[%s]}\n' "${JSON_QUOTED[@]}" "$ready" "$(IFS=,; printf '%s' "${checks[*]}")"
}
