# shellcheck shell=bash disable=SC2154,SC2034
# Sourced by restore.sh: reading manifests and verdicts, checks of the restored copy against the
# manifest, and drills (its variables are restore.sh's).
# ------------------------------------------------------------------ reading JSON

# JSON is read with jq when installed, else python3 (many images have only one of them).
JSON_READER=''
pick_json_reader() {
  if command -v jq >/dev/null 2>&1; then JSON_READER=jq
  elif command -v python3 >/dev/null 2>&1; then JSON_READER=python3
  else fail "$E_INPUT" "reading manifests needs jq or python3, and neither is installed"; fi
}
# json_fields <file> <dotted.path>...: JSON_FIELDS = the value at each path, read by one process
# (strings raw, others as JSON, "" when absent); fails unless the file is one JSON document. jq 1.5
# has no --args: the paths (no spaces) go as one string.
JSON_FIELDS=()
json_fields() {
  local file=$1 value
  shift
  JSON_FIELDS=()
  while IFS= read -r -d '' value; do JSON_FIELDS+=("$value"); done < <(
    if [ "$JSON_READER" = jq ]; then
      jq -j --arg paths "$*" '. as $doc | ($paths | split(" "))[] as $path | $doc |
        (try getpath($path | split(".")) catch null) | (if . == null then "" elif type == "string" then . else tojson end) + "\u0000"' "$file" 2>/dev/null
    else
      python3 -c '
import json, sys
document = json.load(open(sys.argv[1]))
for path in sys.argv[2:]:
    value = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    sys.stdout.write(("" if value is None else value if isinstance(value, str) else json.dumps(value)) + "\0")' "$file" "$@" 2>/dev/null
    fi
  )
  [ "${#JSON_FIELDS[@]}" -eq $# ] || { JSON_FIELDS=(); return 1; }
}
json_entries() { # json_entries <file> <dotted.path>: "key<TAB>value" per entry of that object
  if [ "$JSON_READER" = jq ]; then
    jq -r --arg p "$2" 'getpath($p | split(".")) | to_entries[] | "\(.key)\t\(.value)"' "$1"
  else
    python3 -c '
import json, sys
value = json.load(open(sys.argv[1]))
for part in sys.argv[2].split("."):
    value = value.get(part) if isinstance(value, dict) else None
for key, entry in (value or {}).items():
    print(f"{key}\t{entry}")' "$1" "$2"
  fi
}
json_string_list() { # stdin: a JSON array of strings; stdout: each, NUL-terminated; fails otherwise
  if [ "$JSON_READER" = jq ]; then
    jq -je 'if type == "array" and all(type == "string") then .[] + "\u0000" else error("not a list of strings") end' 2>/dev/null
  else
    python3 -c '
import json, sys
value = json.load(sys.stdin)
if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
    sys.exit(1)
sys.stdout.write("".join(item + "\0" for item in value))' 2>/dev/null
  fi
}
# ------------------------------------------------------------------ drills

checks=() failed_checks=()
record_check() { # record_check <name> <passed|failed|skipped> <detail>
  json_quote_each "$1" "$2" "$3"
  checks+=("{\"name\":${JSON_QUOTED[0]},\"status\":${JSON_QUOTED[1]},\"detail\":${JSON_QUOTED[2]}}")
  [ "$2" != failed ] || failed_checks+=("$1: $3")
}

# Table and row counts, the way backup.sh counts them (a table too large to count has no row
# count in the manifest and is not compared). A row counter reads "<index><TAB><table>" lines and
# prints "<index><TAB><rows>" for each table that exists, one query for them all.
pg_table_count() { pg_db "$1" -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"; }
pg_rows() { # pg_rows <db>; the tables as schema.table
  local index name values=''
  while IFS=$'\t' read -r index name; do values+="${values:+, }($index, '${name//\'/\'\'}')"; done
  [ -n "$values" ] || return 0
  printf "SELECT string_agg(format('SELECT %%s, count(*) FROM %%I.%%I', w.i, n.nspname, c.relname), ' UNION ALL ') FROM (VALUES %s) AS w(i, name) JOIN pg_class c ON c.relkind = 'r' JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname || '.' || c.relname = w.name \\gexec\n" "$values" |
    pg_db "$1" -F $'\t'
}
my_table_count() { my_sql -e "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$1' AND TABLE_TYPE = 'BASE TABLE'"; }
# The SELECTs on stdin, one per line, as one UNION ALL query run by <runner...>; each alone when
# that fails (MySQL and SQLite fail it whole for one missing table).
union_or_each() { # union_or_each <runner and its leading args...>
  local select selects=() query=''
  while IFS= read -r select; do selects+=("$select") query+="${query:+ UNION ALL }$select"; done
  [ -n "$query" ] || return 0
  "$@" "$query" 2>/dev/null && return 0
  for select in "${selects[@]}"; do "$@" "$select" 2>/dev/null || true; done
}
my_rows() { # my_rows <db>
  local tick='`' index table
  while IFS=$'\t' read -r index table; do
    printf 'SELECT %s, COUNT(*) FROM %s.%s\n' "$index" "$tick${1//$tick/$tick$tick}$tick" "$tick${table//$tick/$tick$tick}$tick"
  done | union_or_each my_sql -e
}
sqlite_table_count() { sqlite3 "$1" "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'"; }
sqlite_rows() { # sqlite_rows <file>
  local index table
  while IFS=$'\t' read -r index table; do printf 'SELECT %s, count(*) FROM "%s"\n' "$index" "${table//\"/\"\"}"; done | union_or_each sqlite3 -separator $'\t' "$1"
}

compare_with_manifest() { # compare_with_manifest <restored table count> <row counter and its leading args...>
  local actual_tables="$1" expected_tables table expected actual differences='' noted='' index count first
  local tables=() expected_rows=() actual_rows=()
  shift
  expected_tables=$manifest_table_count
  if [ -z "$expected_tables" ]; then
    record_check tables skipped 'the manifest has no table or row counts'
    return
  fi
  if [ "$expected_tables" = "$actual_tables" ]; then
    record_check tables passed "$actual_tables tables, as in the manifest"
  else
    record_check tables failed "$actual_tables tables restored, the manifest says $expected_tables"
  fi
  while IFS=$'\t' read -r table expected; do
    [ -n "$table" ] || continue
    tables+=("$table") expected_rows+=("$expected")
  done < <(json_entries "$manifest" database.rowCounts)
  # A hundred tables per query: SQLite takes at most 500 SELECTs in one compound query.
  for ((first = 0; first < ${#tables[@]}; first += 100)); do
    while IFS=$'\t' read -r index count; do
      [[ $index =~ ^[0-9]+$ ]] && [ "$index" -lt "${#tables[@]}" ] && actual_rows[index]=$count
    done < <(for ((index = first; index < first + 100 && index < ${#tables[@]}; index++)); do printf '%s\t%s\n' "$index" "${tables[index]}"; done | "$@" 2>/dev/null)
  done
  for index in "${!tables[@]}"; do
    table=${tables[index]} expected=${expected_rows[index]} actual=${actual_rows[index]:-}
    [ "$actual" = "$expected" ] && continue
    # MySQL counts are taken in a snapshot just before the dump's own (it cannot share one):
    # writes in between differ a little and are noted; a table missing or under half its rows fails.
    if [ "$BK_KIND" = mysql ] && [[ $actual =~ ^[0-9]+$ ]] && [ "$((actual * 2))" -ge "$expected" ] && { [ "$expected" = 0 ] || [ "$actual" != 0 ]; }; then
      noted+="${noted:+; }$table: manifest $expected, restored $actual"
      continue
    fi
    differences+="${differences:+; }$table: manifest $expected, restored ${actual:-missing}"
  done
  if [ -z "$differences" ]; then
    record_check rowCounts passed "row counts of ${#tables[@]} tables match the manifest${noted:+ (counted just before the dump, writes in between: $noted)}"
  else
    record_check rowCounts failed "$differences"
  fi
}

run_probes() { # run_probes <sql runner command...>
  local probe value index=0 listed="$work_dir/probes"
  [ -n "${RS_DRILL_PROBES:-}" ] || return 0
  if ! printf '%s' "$RS_DRILL_PROBES" | base64 -d 2>/dev/null | json_string_list >"$listed"; then
    record_check probes failed 'RS_DRILL_PROBES is not base64 of a JSON list of SQL statements'
    return 0
  fi
  while IFS= read -r -d '' probe; do
    index=$((index + 1))
    # A probe holds when it returns a row whose first value is not false, 0 or NULL.
    if value="$("$@" "$probe" 2>&1 | head -n 1)" && [ -n "$value" ] && ! [[ "$value" =~ ^(0|f|false|FALSE|NULL)$ ]]; then
      record_check "probe$index" passed "returned $value"
    else
      record_check "probe$index" failed "${probe:0:200} returned '${value:-no row}'"
    fi
  done <"$listed"
}

# The restored copy against the manifest, every restore, before the copy is put in place or
# reported: tables and row counts (databases), integrity (SQLite), file count and bytes (files).
# A copy that differs fails the restore; a replace then keeps the live data, which was not touched.
# A drill records the checks and reports them all in its result instead.
check_restored() { # check_restored <database | path of the staged copy>
  case "$BK_KIND" in
    postgres) compare_with_manifest "$(pg_table_count "$1")" pg_rows "$1" ;;
    mysql) compare_with_manifest "$(my_table_count "$1")" my_rows "$1" ;;
    sqlite)
      record_check integrity passed 'PRAGMA integrity_check: ok'
      compare_with_manifest "$(sqlite_table_count "$1")" sqlite_rows "$1"
      ;;
    files)
      file_count_check "$1"
      file_index_check "$1"
      special_files_check "$1"
      ;;
  esac
  [ "$drill" = 1 ] || [ "${#failed_checks[@]}" = 0 ] ||
    fail "$E_MISMATCH" "the restored copy does not match the backup's manifest ($(IFS=';'; printf '%s' "${failed_checks[*]}")); nothing was put in place$([ "$RS_MODE" = replace ] && echo ', the live data is untouched')"
}

drill_checks() {
  checks=("{\"name\":\"restore\",\"status\":\"passed\",\"detail\":$(json_str "restored $key into $restored_to")}" "${checks[@]}")
  case "$BK_KIND" in
    postgres) run_probes pg_db "$restored_to" -c ;;
    mysql) run_probes my_sql "$restored_to" -e ;;
    files) files_checks ;;
  esac
}

# What a files check counts: the restored tree; for several paths, each path the backup archived
# (the archive holds no directory above them; the manifest lists them, else the configured ones).
# Every configured path must be in the backup; only those are ever put in place.
counted_roots() { # counted_roots <restored tree>: sets ROOTS
  local path link problems='' archived=()
  ROOTS=("$1")
  [ "$path_set" = 1 ] || return 0
  ROOTS=()
  if [ -n "$manifest_paths" ]; then
    while IFS= read -r -d '' path; do archived+=("$path"); done < <(printf '%s' "$manifest_paths" | json_string_list || true)
  fi
  [ "${#archived[@]}" -gt 0 ] || archived=("${live_paths[@]}")
  for path in "${archived[@]}"; do
    # The manifest is the backup instance's word: only paths a document parameter could carry.
    matches_within "$path" '^/[A-Za-z0-9._/@+=, -]*$' 4096 || path='(not a path a target may name)'
    case "$path/" in
      [!/]* | *//* | */./* | */../*) problems+="${problems:+; }the manifest lists '$path', not a plain absolute path" ;;
      *)
        link="$(link_above "$1" "$path")"
        if [ -n "$link" ]; then
          problems+="${problems:+; }the archive holds a link or file at $link, where a directory above $path belongs"
        elif [ -e "$1$path" ] || [ -L "$1$path" ]; then ROOTS+=("$1$path")
        else problems+="${problems:+; }the archive lacks $path, which its manifest lists"; fi
        ;;
    esac
  done
  for path in "${live_paths[@]}"; do
    link="$(link_above "$1" "$path")"
    if [ -n "$link" ]; then
      problems+="${problems:+; }the archive holds a link or file at $link, where a directory above $path belongs: it could lead the restore anywhere"
    elif [ ! -e "$1$path" ] && [ ! -L "$1$path" ]; then
      problems+="${problems:+; }the backup holds no $path (configured after it was taken?)"
    fi
  done
  if [ -z "$problems" ]; then
    record_check paths passed "the backup holds all ${#live_paths[@]} configured paths"
  else
    record_check paths failed "$problems"
  fi
}

# Replace only: device nodes and set-user-ID or set-group-ID files are never put in place: a forged
# archive could hand the application a raw disk or a root shell (a scratch copy stays root's alone).
special_files_check() { # special_files_check <restored tree>
  [ "$RS_MODE" = replace ] || return 0
  local found
  found="$(find "$1" \( -type b -o -type c -o \( -type f -perm /6000 \) \) -printf '%P\n' 2>/dev/null | head -n 5 | paste -sd ' ' -)"
  if [ -z "$found" ]; then
    record_check specialFiles passed 'no device nodes and no set-user-ID or set-group-ID files'
  else
    record_check specialFiles failed "the archive holds device nodes or set-ID files ($found): a replace never puts them in place; restore in scratch mode and inspect them"
  fi
}

# The first name above <path> inside <tree> that is not a real directory (a link the archive made
# there would lead every name below it out of the tree); nothing when there is none.
link_above() { # link_above <tree> <path>
  local prefix='' part
  local -a parts
  IFS=/ read -r -a parts <<<"${2#/}"
  unset 'parts[${#parts[@]}-1]'
  for part in "${parts[@]+"${parts[@]}"}"; do
    prefix="$prefix/$part"
    if [ -L "$1$prefix" ] || { [ -e "$1$prefix" ] && [ ! -d "$1$prefix" ]; }; then
      printf '%s' "$prefix"
      return
    fi
  done
}

file_count_check() { # file_count_check <restored tree>
  local count=0 bytes=0 expected_count expected_bytes
  counted_roots "$1"
  if [ "${#ROOTS[@]}" -gt 0 ]; then
    count="$(find "${ROOTS[@]}" -type f -printf . | wc -c)"
    bytes="$(find "${ROOTS[@]}" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')"
  fi
  expected_count=$manifest_file_count
  expected_bytes=$manifest_total_bytes
  if [ -z "$expected_count" ]; then
    record_check fileCount skipped 'the manifest has no file count'
  elif [ "$count" = "$expected_count" ] && [ "$bytes" = "$expected_bytes" ]; then
    record_check fileCount passed "$count files, $bytes bytes, as in the manifest"
  else
    record_check fileCount failed "restored $count files / $bytes bytes, the manifest says $expected_count / $expected_bytes"
  fi
  # Directories (the tree's top included, as the archive's ./) and symlinks, where the manifest counted them.
  local expected_dirs expected_links dirs links
  expected_dirs=$manifest_directory_count
  expected_links=$manifest_symlink_count
  [ -n "$expected_dirs" ] || return 0
  dirs=0 links=0
  if [ "${#ROOTS[@]}" -gt 0 ]; then
    dirs="$(find "${ROOTS[@]}" -type d -printf . | wc -c)"
    links="$(find "${ROOTS[@]}" -type l -printf . | wc -c)"
  fi
  if [ "$dirs" = "$expected_dirs" ] && [ "$links" = "${expected_links:-$links}" ]; then
    record_check entries passed "$dirs directories, $links symlinks, as in the manifest"
  else
    record_check entries failed "restored $dirs directories / $links symlinks, the manifest says $expected_dirs / ${expected_links:-?}"
  fi
}

# Every regular file of the restored tree (path, size, SHA-256) against the per-file index that
# backup.sh took from the archive as tar wrote it: what landed on disk, not just what was stored.
file_index_check() { # file_index_check <restored tree>
  local expected_count expected_sha index
  expected_sha=$manifest_index_sha
  expected_count=$manifest_index_count
  if [ -z "$expected_sha" ]; then
    record_check fileIndex skipped 'the manifest has no per-file index (the backup instance had no python3, or an older script)'
  elif ! command -v python3 >/dev/null 2>&1; then
    record_check fileIndex skipped 'python3 is not installed here, so the restored files were not hashed against the per-file index (the archive matched its content digest)'
  else
    # No more records than the index holds: the memory the backup itself needed.
    index="$(BK_FILES_INDEX_MAX_FILES="$expected_count" python3 -c "$FILES_INDEX_PY" tree "$1" 2>"$work_dir/index.err")" ||
      index="not computed: $(tail -n 1 "$work_dir/index.err")"
    if [ "$index" = "$expected_count $expected_sha" ]; then
      record_check fileIndex passed "$expected_count files with the paths, sizes and SHA-256 of the per-file index"
    else
      record_check fileIndex failed "the restored files differ from the per-file index taken at backup (restored: $index; index: $expected_count $expected_sha)"
    fi
  fi
}

# Files (drills): a sample of files hashed both from the archive stream (tar --to-command) and
# from the restored copy. The archive's own SHA-256 already matched the manifest, so a sample
# that matches shows the extraction wrote the bytes.
files_checks() {
  local sample="$work_dir/sample" from_archive="$work_dir/from-archive" record name sampled=0 mismatches=''
  local -A archive_sha=()
  # Names are NUL-separated throughout: file names may hold newlines.
  (cd "$restored_to" && find . -type f -print0 | shuf -z -n "${RS_DRILL_SAMPLE:-50}") >"$sample"
  if [ ! -s "$sample" ]; then
    record_check checksums skipped 'no files to sample'
    return
  fi
  # shellcheck disable=SC2016 # expanded by the shell tar starts for each member
  tar -xzf "$backup_file" --null --verbatim-files-from -T "$sample" \
    --to-command='printf "%s\t%s\0" "$(sha256sum | cut -d" " -f1)" "$TAR_FILENAME"' >"$from_archive" 2>/dev/null || true
  while IFS= read -r -d '' record; do archive_sha["${record#*$'\t'}"]="${record%%$'\t'*}"; done <"$from_archive"
  while IFS= read -r -d '' name; do
    sampled=$((sampled + 1))
    if [ "${archive_sha[$name]:-}" != "$(sha256sum <"$restored_to/${name#./}" | cut -d' ' -f1)" ]; then
      mismatches+="${mismatches:+, }${name#./}"
    fi
  done <"$sample"
  if [ -z "$mismatches" ]; then
    record_check checksums passed "$sampled sampled files match the archive"
  else
    record_check checksums failed "differ from the archive: ${mismatches:0:500}"
  fi
}

remove_copy() { # remove_copy db:<name> | path:<path>
  case "$1" in
    db:*) drop_database "${1#db:}" ;;
    path:*) rm -rf -- "${1#path:}" "${1#path:}-wal" "${1#path:}-shm" "${1#path:}-journal" ;;
  esac
}

drop_database() {
  case "$BK_KIND" in
    postgres) pg_admin -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 || pg_admin -c "DROP DATABASE IF EXISTS \"$1\"" >/dev/null ;;
    mysql) my_sql -e "DROP DATABASE IF EXISTS $(my_quote "$1")" ;;
  esac
}

