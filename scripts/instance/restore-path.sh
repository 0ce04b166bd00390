# shellcheck shell=bash disable=SC2154,SC2034
# Sourced by restore.sh: SQLite and files restores, staged and swapped in (its variables are restore.sh's).
# ------------------------------------------------------------------ SQLite and files
#
# Root never works through a path that another user can change. Scratch copies go below the
# scratch root (root's, 0700, no other user's directory above it). A replace works from inside
# the live path's directory, which the application may write: the shell's current directory holds
# that directory itself whatever happens to its name, the copy is prepared in a private staging
# directory made there (root's, 0700, checked after entering it), and only the final renames
# touch names the application can see. No operation there follows a link or takes a reference.


# The live path(s), the scratch root and the scratch path, checked: plain absolute paths, scratch
# copies inside the root and apart from every live path. A files target may name several paths
# (BK_PATHS): its archive is rooted at /, and a replace puts each path back in its own place.
path_settings() {
  local setting=BK_PATH path canonical other
  path_set=0 live_paths=() live_canonicals=()
  if [ "$BK_KIND" = files ] && [ -n "${BK_PATHS:-}" ]; then
    [ -z "${BK_PATH:-}" ] || fail "$E_INPUT" "BK_PATH and BK_PATHS are both set: a files target names one directory or several paths"
    require_setting BK_PATHS '^/[A-Za-z0-9._/@+=, -]*(:/[A-Za-z0-9._/@+=, -]*)*$' 65536
    IFS=: read -r -a live_paths <<<"$BK_PATHS"
    path_set=1 setting=BK_PATHS
  else
    require_setting BK_PATH '^/[A-Za-z0-9._/@+=,: -]*$' 4096
    live_paths=("$BK_PATH")
  fi
  scratch_root="${RS_SCRATCH_ROOT:-/var/tmp/backup-kit-restore/$BK_TARGET}"
  scratch_root="${scratch_root%/}"
  matches_within "$scratch_root" '^/[A-Za-z0-9._/@+=,: -]+$' 4096 || fail "$E_INPUT" "RS_SCRATCH_ROOT must be an absolute path below / (got '$scratch_root')"
  clean_path RS_SCRATCH_ROOT "$scratch_root"
  [ "$(realpath -m -- "$scratch_root")" = "$scratch_root" ] || fail "$E_INPUT" "RS_SCRATCH_ROOT '$scratch_root' passes through a symbolic link; name the real directory"
  for path in "${live_paths[@]}"; do
    path="${path%/}"
    clean_path "$setting" "$path"
    [ -n "$path" ] || fail "$E_INPUT" "$setting names /: name the directories and files below it"
    canonical="$(realpath -m -- "$path")"
    # Several paths: the last component is what is archived and swapped, a link as the link.
    if [ "$path_set" = 1 ]; then canonical="$(realpath -m -- "${path%/*}/")" && canonical="${canonical%/}/${path##*/}"; fi
    if within "$canonical" "$scratch_root" || within "$scratch_root" "$canonical"; then
      fail "$E_INPUT" "RS_SCRATCH_ROOT '$scratch_root' and the live path '$path' overlap; scratch copies must go apart from live data"
    fi
    # One path inside another would be swapped twice.
    for other in "${live_canonicals[@]+"${live_canonicals[@]}"}"; do
      if within "$canonical" "$other" || within "$other" "$canonical"; then fail "$E_INPUT" "$setting names '$path', which overlaps $other: name each path once"; fi
    done
    live_canonicals+=("$canonical")
  done
  live_paths=("${live_paths[@]%/}")
  live_path="${live_paths[0]}"
  scratch_path="${RS_SCRATCH_PATH:-$scratch_root/$([ "$path_set" = 1 ] && echo "$BK_TARGET" || echo "${live_path##*/}").$([ "$drill" = 1 ] && echo drill || echo restore)-$stamp}"
  matches_within "$scratch_path" '^/[A-Za-z0-9._/@+=,: -]*$' 4096 || fail "$E_INPUT" "RS_SCRATCH_PATH must be an absolute path (got '$scratch_path')"
  scratch_path="${scratch_path%/}"
  clean_path RS_SCRATCH_PATH "$scratch_path"
  # Canonical (symbolic links resolved): a link inside the root cannot lead the copy out of it.
  canonical="$(realpath -m -- "$scratch_path")"
  if ! within "$canonical" "$scratch_root" || [ "$canonical" = "$scratch_root" ]; then
    fail "$E_INPUT" "RS_SCRATCH_PATH '$scratch_path' is not inside the scratch root $scratch_root: scratch copies go there only"
  fi
  for other in "${live_canonicals[@]}"; do
    if within "$canonical" "$other" || within "$other" "$canonical"; then fail "$E_INPUT" "RS_SCRATCH_PATH '$scratch_path' is the live path $other, inside it or around it"; fi
  done
  scratch_path="$canonical"
}

# Creates <dir> and what is missing above it (0700), then checks the whole path.
ensure_private_dir() { # ensure_private_dir <setting> <canonical dir>
  local path='' part
  local -a parts
  check_owned_path "$1" "$(dirname -- "$2")"
  IFS=/ read -r -a parts <<<"${2#/}"
  for part in "${parts[@]}"; do
    path="$path/$part"
    [ -e "$path" ] || [ -L "$path" ] || mkdir -m 0700 -- "$path" 2>/dev/null || [ -d "$path" ] || fail "$E_RESTORE" "$1: cannot create $path"
  done
  check_owned_path "$1" "$2"
}

# Makes <dir> the current directory, refusing when its name no longer leads there.
enter_dir() { # enter_dir <canonical dir>
  cd -P -- "$1" 2>/dev/null || fail "$E_INPUT" "directory $1 does not exist"
  [ "$(pwd -P)" = "$1" ] || fail "$E_INPUT" "$1 was replaced by a link to $(pwd -P) while the restore ran; nothing was changed"
}

# In the current directory: a new private staging directory, entered and checked to be the one
# made (root's, 0700, empty, right below this directory). From there `..` is this directory itself.
enter_stage() {
  local parent_id
  parent_id="$(stat -c %d:%i .)"
  stage="$(mktemp -d ./.backup-kit-stage.XXXXXXXX)" || fail "$E_RESTORE" "cannot create a staging directory in $(pwd -P)"
  stage="${stage#./}"
  cd -P -- "$stage" || fail "$E_RESTORE" "cannot enter the staging directory $stage"
  # Until these hold this may be someone else's directory: nothing here is touched, not even on cleanup.
  if [ "$(stat -c '%u %a' .)" != "$EUID 700" ] || [ "$(stat -c %d:%i ..)" != "$parent_id" ] || [ -n "$(ls -A)" ]; then
    fail "$E_RESTORE" "the staging directory $stage was swapped while the restore ran; nothing was changed"
  fi
  in_stage=1
}

# Empties the staging directory from inside, then removes it from its parent. Once a swap has
# begun the stage may hold the previous live data, so a failed run leaves it for the engineer.
leave_stage() {
  [ "$in_stage" = 1 ] || return 0
  in_stage=0
  if [ "$swap_begun" = 1 ] && [ "$swapped" = 0 ]; then
    log_warn "the swap did not finish: $(pwd -P) may hold the previous data; check $live_path and it before removing anything"
    return 0
  fi
  find . -mindepth 1 -delete 2>/dev/null || true
  { cd .. && rmdir -- "$stage"; } 2>/dev/null || log_warn "could not remove the staging directory $stage"
}

# Pids of processes that have <path> open (a live SQLite file must not be swapped under them).
# One find compares device and inode through every /proc/<pid>/fd link: one process however many
# descriptors the host has open (a readlink per descriptor is a fork each), and a hard link to
# the same file counts too. Not -samefile: GNU find holds that file open itself.
open_by() {
  local device inode
  read -r device inode < <(stat -L -c '%d %i' -- "$1" 2>/dev/null) || return 0
  find -L /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 -inum "$inode" -printf '%D %p\n' 2>/dev/null |
    awk -v device="$device" '$1 == device { split($2, part, "/"); if (!seen[part[3]]++) pids = pids (pids ? " " : "") part[3] } END { printf "%s", pids }'
  return 0
}

# Renames <new> over <live> in one step and keeps the old one at <aside>. No rename(2) follows a
# link in its last component, and the names are relative to directories already checked.
swap_in() { # swap_in <new> <live> <aside>
  if [ ! -e "$2" ] && [ ! -L "$2" ]; then
    mv -T -- "$1" "$2"
    return
  fi
  if [ -f "$2" ] || [ -L "$2" ]; then
    # A hard link keeps the old file reachable; rename(2) then replaces the live name atomically.
    ln -P -- "$2" "$3" && mv -T -- "$1" "$2"
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
    log_info "no atomic exchange available (coreutils mv --exchange or python3): swapping with two renames"
    mv -T -- "$2" "$3" && mv -T -- "$1" "$2"
  fi
}

# Enters the directory the copy goes to and sets `name`, the copy's name in it. Scratch: below
# the private scratch root, a name not yet taken. Replace: the live path's directory.
enter_destination() {
  local directory
  if [ "$RS_MODE" = scratch ]; then
    ensure_private_dir RS_SCRATCH_ROOT "$scratch_root"
    directory="$(dirname -- "$scratch_path")"
    # Inside the private root nobody else can make a directory or a link (umask 077: all 0700).
    mkdir -p -- "$directory" || fail "$E_RESTORE" "cannot create $directory"
    enter_dir "$directory"
    name="${scratch_path##*/}"
    if [ -e "./$name" ] || [ -L "./$name" ]; then fail "$E_INPUT" "$scratch_path already exists; choose another RS_SCRATCH_PATH"; fi
  else
    directory="$(realpath -e -- "$(dirname -- "$live_path")" 2>/dev/null)" || fail "$E_INPUT" "directory $(dirname -- "$live_path") does not exist"
    enter_dir "$directory"
    name="${live_path##*/}"
    # Several paths archive a link as the link, and swap the link; one path is the data behind it.
    [ ! -L "./$name" ] || [ "$path_set" = 1 ] || fail "$E_INPUT" "$live_path is a symbolic link; configure the path it points to, so that the swap replaces the data and not the link"
  fi
}

# From the stage: gives <copy> the owner and mode of the live <name> next door, read without
# following a link.
take_owner_and_mode() { # take_owner_and_mode <copy> <name>
  local uid gid mode type
  [ -e "../$2" ] || return 0
  # A link among several paths is swapped as it is archived: a link has no mode of its own.
  if [ "$path_set" = 1 ] && { [ -L "../$2" ] || [ -L "$1" ]; }; then return 0; fi
  read -r uid gid mode type < <(stat -c '%u %g %a %F' -- "../$2")
  [ "$type" != 'symbolic link' ] || fail "$E_SWAP" "$live_path became a symbolic link during the restore; live data is unchanged"
  { chown -h -- "$uid:$gid" "$1" && chmod -- "$mode" "$1"; } || fail "$E_RESTORE" "cannot give the restored copy the owner and mode of $live_path"
}

# From the stage: moves the finished copy in. Scratch: to its new name, readable by root only
# (an archive may hold set-user-ID programs and private files). Replace: swapped in, the old
# data kept as <name>.pre-restore-<stamp>.
place_copy() { # place_copy <name>
  if [ "$RS_MODE" = scratch ]; then
    { chown -h -- "$EUID:$(id -g)" restored && chmod 0700 restored; } || fail "$E_RESTORE" "cannot make the copy private"
    mv -T -- restored "../$1" || fail "$E_RESTORE" "cannot move the copy to $scratch_path"
    [ "$drill" = 1 ] && drill_copy="path:$scratch_path"
    restored_to="$scratch_path"
    return
  fi
  local suffix
  take_owner_and_mode restored "$1"
  aside_name="$1.pre-restore-$stamp"
  # The journal or WAL of an old SQLite file must not be applied to the new one: they go aside with it.
  if [ "$BK_KIND" = sqlite ]; then
    for suffix in -wal -journal; do
      if [ -e "../$1$suffix" ]; then ln -P -- "../$1$suffix" "../$aside_name$suffix" || fail "$E_SWAP" "cannot keep $live_path$suffix aside"; fi
    done
  fi
  swap_begun=1
  swap_in restored "../$1" "../$aside_name" || fail "$E_SWAP" "the swap failed; $live_path is unchanged or, if the error above came after the exchange, the previous data is in the staging directory"
  swapped=1
  [ "$BK_KIND" != sqlite ] || rm -f -- "../$1-wal" "../$1-shm" "../$1-journal"
  if [ -e "../$aside_name" ]; then aside_name="$(dirname -- "$live_path")/$aside_name"; else aside_name=''; fi
  restored_to="$live_path"
}

restore_sqlite() {
  require_command "$E_INPUT" sqlite3 'SQLite restores need it'
  local name check pids
  enter_destination
  if [ "$RS_MODE" = replace ] && [ -e "./$name" ]; then
    pids="$(open_by "$(pwd -P)/$name")"
    [ -z "$pids" ] || fail "$E_INPUT" "$live_path is open by process(es) $pids: stop the application before replacing its database"
    safety_backup
  elif [ "$RS_MODE" = replace ]; then
    no_live_data "$live_path"
  fi
  enter_stage
  gzip -dc "$backup_file" >restored || fail "$E_RESTORE" "decompressing into the staging directory failed"
  # sqlite3 takes an empty file for an empty database: an empty or foreign file is never a restore.
  [ "$(head -c 15 restored)" = 'SQLite format 3' ] || fail "$E_MISMATCH" "the backup decompresses to $(wc -c <restored) bytes that are not a SQLite database; live data untouched"
  check="$(sqlite3 restored 'PRAGMA integrity_check' 2>&1 | head -n 5)"
  [ "$check" = ok ] || fail "$E_RESTORE" "the restored file fails PRAGMA integrity_check: $check"
  check_restored restored
  rm -f -- restored-wal restored-shm restored-journal
  place_copy "$name"
  leave_stage
}

restore_files() {
  require_command "$E_INPUT" tar 'file restores need it'
  local name
  if [ "$path_set" = 1 ] && [ "$RS_MODE" = replace ]; then
    restore_path_set
    return
  fi
  enter_destination
  if [ "$RS_MODE" = replace ]; then
    if [ -e "./$name" ]; then safety_backup; else no_live_data "$live_path"; fi
  fi
  enter_stage
  mkdir restored
  extract_archive restored
  check_restored restored
  place_copy "$name"
  leave_stage
}

extract_archive() { # extract_archive <directory>
  tar -xzf "$backup_file" -C "$1" --same-permissions --same-owner --numeric-owner || fail "$E_RESTORE" "extracting into the staging directory failed"
}

# Replace, several paths: the whole archive is extracted into the private work directory and
# checked there; then each configured path, and no other member of the archive, is moved beside
# its live place and swapped in, one after another, its previous data kept aside.
restore_path_set() {
  local path existing=() tree="$work_dir/tree" name
  for path in "${live_paths[@]}"; do if [ -e "$path" ] || [ -L "$path" ]; then existing+=("$path"); fi; done
  if [ "${#existing[@]}" -gt 0 ]; then
    safety_paths="$(IFS=:; printf '%s' "${existing[*]}")"
    safety_backup
  else
    log_info "replace: none of the ${#live_paths[@]} paths exists here, so there is nothing to keep: no safety backup"
  fi
  [ "$(free_bytes_at "$work_dir")" -ge "${manifest_total_bytes:-0}" ] || fail "$E_RESTORE" "$work_dir has not the $((${manifest_total_bytes:-0} / 1048576)) MiB the extracted files need (set RS_WORK_DIR)"
  mkdir -- "$tree" || fail "$E_RESTORE" "cannot create $tree"
  extract_archive "$tree"
  check_restored "$tree"
  local placed='' placed_aside=''
  for path in "${live_paths[@]}"; do
    live_path=$path swap_begun=0 swapped=0 aside_name=''
    make_parents "$path"
    enter_destination
    enter_stage
    [ -z "$(link_above "$tree" "$path")" ] || fail "$E_MISMATCH" "the archive holds a link above $path; nothing more was put in place"
    mv -T -- "$tree/${path#/}" restored || fail "$E_RESTORE" "cannot move $path from the checked copy into the staging directory"
    place_copy "$name"
    leave_stage
    placed+="${placed:+, }$path" placed_aside+="${aside_name:+${placed_aside:+, }$aside_name}"
    FAILURE_NOTES=("restored before the failure: $placed${placed_aside:+ (their previous data kept as $placed_aside)}; the other paths are as they were")
  done
  restored_to=$placed aside_name=$placed_aside
  FAILURE_NOTES=()
}

# Replace, several paths: directories above a path that do not exist here (a rebuilt server) are
# created, root's and 0755, and said; the ones that exist must be root's and not writable by others.
make_parents() { # make_parents <path>
  local parent="${1%/*}" directory='' part
  local -a parts
  [ ! -d "${parent:-/}" ] || return 0
  check_owned_path BK_PATHS "$parent"
  IFS=/ read -r -a parts <<<"${parent#/}"
  for part in "${parts[@]}"; do
    directory="$directory/$part"
    [ -d "$directory" ] && continue
    mkdir -m 0755 -- "$directory" || fail "$E_RESTORE" "cannot create $directory, the directory $1 goes in"
    log_info "created $directory (root's, 0755): it did not exist on this instance"
  done
}
