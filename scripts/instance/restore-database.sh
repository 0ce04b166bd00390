# shellcheck shell=bash disable=SC2154,SC2034
# Sourced by restore.sh: PostgreSQL and MySQL restores (its variables are restore.sh's).
# ------------------------------------------------------------------ PostgreSQL

pg_admin() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "${RS_PG_MAINTENANCE_DB:-postgres}" "$@"; }
pg_db() { local db="$1"; shift; psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }

pg_connect() {
  require_command "$E_INPUT" psql 'PostgreSQL restores need it'
  require_command "$E_INPUT" pg_restore 'PostgreSQL restores need it'
  fetch_db_password
  # shellcheck disable=SC2153 # BK_DB_HOST comes from the environment, checked above
  export PGHOST="$BK_DB_HOST" PGPORT="$BK_DB_PORT" PGUSER="$db_user" PGPASSFILE="$work_dir/pgpass" PGAPPNAME=backup-kit-restore PGCONNECT_TIMEOUT=15
  unset PGPASSWORD PGSERVICE PGDATABASE # they would take precedence over the password file and the named databases
  write_pgpass_file "$PGPASSFILE"
  pg_admin -c 'SELECT 1' >/dev/null || fail "$E_CREDENTIALS" "cannot connect to PostgreSQL at $BK_DB_HOST:$BK_DB_PORT as $db_user"
}

# Fails closed: an error is never read as "does not exist" (which would lead to creating, and on
# failure dropping, a database this run did not make).
pg_exists() {
  local found
  found="$(pg_admin -c "SELECT count(*) FROM pg_database WHERE datname = '$1'")" || fail "$E_RESTORE" "cannot check whether database $1 exists"
  [ "$found" = 1 ]
}

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
    pg_exists "$scratch_db" && fail "$E_INPUT" "database $scratch_db already exists; choose another RS_SCRATCH_NAME"
    pg_create_like_live "$scratch_db" || fail "$E_RESTORE" "cannot create database $scratch_db (does $db_user have CREATEDB?)"
    pending_db="$scratch_db"
    pg_restore_into "$scratch_db" scratch || fail "$E_RESTORE" "pg_restore into $scratch_db failed; live database untouched"
    check_restored "$scratch_db"
    restored_to="$scratch_db"
    [ "$drill" = 1 ] && drill_copy="db:$scratch_db"
    pending_db=''
    return
  fi
  local incoming aside owner
  incoming="$(derived_name "$BK_DB_NAME" "_rs_$stamp")"
  aside="$(derived_name "$BK_DB_NAME" "_pre_restore_$stamp")"
  pg_exists "$incoming" && fail "$E_INPUT" "database $incoming already exists"
  if pg_exists "$BK_DB_NAME"; then safety_backup; else no_live_data "database $BK_DB_NAME"; fi
  pg_create_like_live "$incoming" || fail "$E_RESTORE" "cannot create database $incoming (does $db_user have CREATEDB?)"
  pending_db="$incoming"
  pg_restore_into "$incoming" replace || fail "$E_RESTORE" "pg_restore into $incoming failed; live database untouched"
  check_restored "$incoming"
  if pg_exists "$BK_DB_NAME"; then
    owner="$(pg_admin -c "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$BK_DB_NAME'")"
    pg_admin -c "ALTER DATABASE \"$incoming\" OWNER TO \"$owner\"" >/dev/null || log_warn "could not give $incoming to $owner; it stays owned by $db_user"
    # New sessions are refused while live sessions are ended, so the rename finds the database idle.
    reenable_db="$BK_DB_NAME"
    pg_admin -c "ALTER DATABASE \"$BK_DB_NAME\" ALLOW_CONNECTIONS false" >/dev/null || fail "$E_SWAP" "cannot stop new connections to $BK_DB_NAME; live database unchanged; nothing was restored (the restored copy is removed): stop the application (its connections) and run the replace again"
    local attempt
    for attempt in 1 2 3 4 5; do
      pg_admin -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN ('$BK_DB_NAME', '$incoming') AND pid <> pg_backend_pid()" >/dev/null || true
      sleep 1
      if pg_admin -c "BEGIN; ALTER DATABASE \"$BK_DB_NAME\" RENAME TO \"$aside\"; ALTER DATABASE \"$incoming\" RENAME TO \"$BK_DB_NAME\"; COMMIT;" >/dev/null; then
        swapped=1
        break
      fi
      log_info "swap attempt $attempt failed (sessions still open); retrying"
    done
    [ "$swapped" = 1 ] || fail "$E_SWAP" "could not rename $BK_DB_NAME while sessions kept reconnecting; live database unchanged"
    reenable_db=''
    pg_admin -c "ALTER DATABASE \"$aside\" ALLOW_CONNECTIONS true" >/dev/null || true
    aside_name="$aside"
  else
    pg_admin -c "ALTER DATABASE \"$incoming\" RENAME TO \"$BK_DB_NAME\"" >/dev/null || fail "$E_SWAP" "cannot rename $incoming to $BK_DB_NAME"
    swapped=1
  fi
  restored_to="$BK_DB_NAME"
}


# ------------------------------------------------------------------ MySQL

my_connect() {
  mysql_bin="$(command -v mysql || command -v mariadb || true)"
  [ -n "$mysql_bin" ] || fail "$E_INPUT" "neither mysql nor mariadb client is installed"
  fetch_db_password
  my_cnf="$work_dir/my.cnf"
  write_mysql_defaults_file "$my_cnf"
  my_sql -e 'SELECT 1' >/dev/null || fail "$E_CREDENTIALS" "cannot connect to MySQL at $BK_DB_HOST:$BK_DB_PORT as $db_user"
}

my_sql() { "$mysql_bin" --defaults-extra-file="$my_cnf" --protocol=TCP -h "$BK_DB_HOST" -P "$BK_DB_PORT" -u "$db_user" --batch --skip-column-names "$@"; }
my_exists() { # fails closed, as pg_exists
  local found
  found="$(my_sql -e "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$1'")" || fail "$E_RESTORE" "cannot check whether database $1 exists"
  [ "$found" = 1 ]
}
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
    fail "$E_INPUT" "the dump selects its database (USE/CREATE DATABASE), so it would write into the live database; refusing"
  fi
  if [ "$RS_MODE" = scratch ]; then
    my_exists "$scratch_db" && fail "$E_INPUT" "database $scratch_db already exists; choose another RS_SCRATCH_NAME"
    my_create_like_live "$scratch_db" || fail "$E_RESTORE" "cannot create database $scratch_db"
    pending_db="$scratch_db"
    my_restore_into "$scratch_db" || fail "$E_RESTORE" "loading the dump into $scratch_db failed; live database untouched"
    check_restored "$scratch_db"
    restored_to="$scratch_db"
    [ "$drill" = 1 ] && drill_copy="db:$scratch_db"
    pending_db=''
    return
  fi
  local incoming aside unmovable statement='' table live_exists=0
  incoming="$(derived_name "$BK_DB_NAME" "_rs_$stamp")"
  aside="$(derived_name "$BK_DB_NAME" "_pre_restore_$stamp")"
  if my_exists "$BK_DB_NAME"; then
    live_exists=1
    unmovable="$(my_unmovable "$BK_DB_NAME")"
    [ -z "$unmovable" ] || fail "$E_INPUT" "$BK_DB_NAME has $unmovable, which RENAME TABLE cannot move: restore with RS_MODE=scratch and swap by hand"
  fi
  my_exists "$incoming" && fail "$E_INPUT" "database $incoming already exists"
  if [ "$live_exists" = 1 ]; then safety_backup; else no_live_data "database $BK_DB_NAME"; fi
  my_create_like_live "$incoming" || fail "$E_RESTORE" "cannot create database $incoming"
  pending_db="$incoming"
  my_restore_into "$incoming" || fail "$E_RESTORE" "loading the dump into $incoming failed; live database untouched"
  check_restored "$incoming"
  unmovable="$(my_unmovable "$incoming")"
  [ -z "$unmovable" ] || fail "$E_INPUT" "the backup has $unmovable, which RENAME TABLE cannot move: restore with RS_MODE=scratch and swap by hand"
  my_exists "$BK_DB_NAME" || my_create_like_live "$BK_DB_NAME" || fail "$E_RESTORE" "cannot create database $BK_DB_NAME"
  if [ "$live_exists" = 1 ]; then
    my_sql -e "CREATE DATABASE $(my_quote "$aside")" || fail "$E_SWAP" "cannot create $aside for the live tables"
    # One RENAME TABLE statement is atomic: every table moves, or none does.
    while IFS= read -r table; do
      [ -n "$table" ] && statement+="${statement:+, }$(my_quote "$BK_DB_NAME").$(my_quote "$table") TO $(my_quote "$aside").$(my_quote "$table")"
    done < <(my_tables "$BK_DB_NAME")
  elif [ -n "$(my_tables "$BK_DB_NAME")" ]; then
    fail "$E_SWAP" "database $BK_DB_NAME appeared, with tables, while the restore ran: it is left as it is and nothing was restored; run the replace again (it then takes a safety backup of it first)"
  fi
  while IFS= read -r table; do
    [ -n "$table" ] && statement+="${statement:+, }$(my_quote "$incoming").$(my_quote "$table") TO $(my_quote "$BK_DB_NAME").$(my_quote "$table")"
  done < <(my_tables "$incoming")
  if [ -n "$statement" ] && ! my_sql -e "SET SESSION lock_wait_timeout = 120; RENAME TABLE $statement"; then
    [ "$live_exists" = 1 ] && { my_sql -e "DROP DATABASE $(my_quote "$aside")" || true; }
    fail "$E_SWAP" "RENAME TABLE failed, so no table moved; live database unchanged"
  fi
  swapped=1
  my_sql -e "DROP DATABASE $(my_quote "$incoming")" || log_warn "could not drop the now empty $incoming"
  [ "$live_exists" = 1 ] && aside_name="$aside"
  restored_to="$BK_DB_NAME"
}


