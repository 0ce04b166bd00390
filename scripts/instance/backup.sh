#!/usr/bin/env bash
# Takes one consistent backup of one target on this instance and streams it, gzip-compressed and
# SSE-KMS encrypted, to the backup bucket; then sets its Object Lock retention and, last and only
# on success, writes its manifest beside it (the contract in contracts/manifest.ts).
#
# Run by the SSM Command document (with common.sh, backup-dump.sh and backup-upload.sh in the same
# directory), or by hand:
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
#   files:   BK_PATH       absolute path of the directory; or
#            BK_PATHS      several absolute paths (files or directories), ':' separated, archived
#                          as ./<path> from / (each restored to its own place)
#            BK_EXCLUDES   optional: colon-separated GNU tar --exclude patterns (e.g. 'cache:*.tmp')
#            BK_FILES_INDEX_MAX_FILES optional: the most files the per-file index takes (default
#                          500000, about 150 bytes of memory each); above it the manifest has none
#   optional for every kind:
#     BK_INSTANCE_ID            recorded in the manifest (else IMDSv2 instance-id, else host name)
#     BK_OBJECT_LOCK_MODE       GOVERNANCE (default) | COMPLIANCE: the bucket's Object Lock mode
#     BK_GZIP_LEVEL             1-9, default 1 (docs/instance-scripts.md has the measurements)
#     BK_COMPRESSOR             pigz | gzip: default pigz when installed (same gzip format, all
#                               cores, niced), else gzip
#     BK_ROW_COUNT_MAX_TABLE_MB tables up to this size get an exact row count in the manifest
#                               (default 256; 0 counts none)
#     BK_PART_MIB               5-5120, default 64: the smallest upload part (a dump shorter
#                               than one part is one PutObject; S3's part minimum is 5 MiB)
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
# shellcheck source=scripts/instance/backup-dump.sh
source "$SCRIPT_DIR/backup-dump.sh"
# shellcheck source=scripts/instance/backup-upload.sh
source "$SCRIPT_DIR/backup-upload.sh"
LOG_TAG=backup

# gzip -1: on the benchmark's PostgreSQL dump, single-threaded gzip -1 ran 2.3x faster than -6
# for a 13% larger object, and still ran slower than pg_dump itself (docs/instance-scripts.md).
readonly DEFAULT_GZIP_LEVEL=1
readonly DEFAULT_ROW_COUNT_MAX_TABLE_MB=256
readonly KNOWN_VARIABLES=" BK_TARGET BK_KIND BK_TIER BK_BUCKET BK_KMS_KEY_ID BK_RETENTION_DAYS BK_REGION \
BK_DB_HOST BK_DB_PORT BK_DB_NAME BK_DB_USER BK_PASSWORD_SSM_PARAMETER BK_PASSWORD_SECRET_ID BK_PATH BK_PATHS \
BK_EXCLUDES BK_INSTANCE_ID BK_OBJECT_LOCK_MODE BK_GZIP_LEVEL BK_COMPRESSOR BK_ROW_COUNT_MAX_TABLE_MB BK_PART_MIB BK_FILES_INDEX_MAX_FILES "

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

check_optional() { # check_optional <variable> <pattern> <what it must be> [max characters, default 255]
  local value=${!1:-}
  if [[ -n $value ]] && ! matches_within "$value" "$2" "${4:-255}"; then
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
  check_optional BK_PART_MIB '^([5-9]|[1-9][0-9]{1,2}|[1-4][0-9]{3}|50[0-9]{2}|51[01][0-9]|5120)$' 'a part size from 5 to 5120 MiB (S3 part limits)'
  # The work directory's path reaches sqlite3 inside a quoted dot-command: no quote or line break.
  check_optional TMPDIR '^/[A-Za-z0-9._/@+=,: -]*$' 'an absolute path of letters, digits, spaces and . _ / @ + = , : - (4096 at most)' 4096

  case "${BK_KIND:-}" in
    postgres | mysql)
      check_required BK_DB_HOST '^[A-Za-z0-9._:/-]+$' 'a host name, IP address or socket directory'
      check_optional BK_DB_PORT '^[0-9]{1,5}$' 'a TCP port from 1 to 65535'
      if [[ ${BK_DB_PORT:-} =~ ^[0-9]{1,5}$ ]] && ((BK_DB_PORT < 1 || BK_DB_PORT > 65535)); then
        input_error "BK_DB_PORT='$BK_DB_PORT' is invalid: must be a TCP port from 1 to 65535"
      fi
      # The document's patterns (contracts/backup-command.ts): a leading '-' would reach the
      # dump tool as an option.
      check_required BK_DB_NAME '^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$' "a database name: 1-63 letters, digits, '_' or '-', not starting with '-'"
      check_required BK_DB_USER '^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,62}$' "a database user name: 1-63 letters, digits, '_', '.', '@' or '-', not starting with '-'"
      if [[ -n ${BK_PASSWORD_SSM_PARAMETER:-} && -n ${BK_PASSWORD_SECRET_ID:-} ]]; then
        input_error 'BK_PASSWORD_SSM_PARAMETER and BK_PASSWORD_SECRET_ID are both set: set exactly one'
      elif [[ -z ${BK_PASSWORD_SSM_PARAMETER:-} && -z ${BK_PASSWORD_SECRET_ID:-} ]]; then
        input_error "BK_PASSWORD_SSM_PARAMETER or BK_PASSWORD_SECRET_ID is required for kind '$BK_KIND': set exactly one"
      fi
      check_optional BK_PASSWORD_SSM_PARAMETER '^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter)?[A-Za-z0-9_./-]+$' 'an SSM parameter name or ARN' 2048
      check_optional BK_PASSWORD_SECRET_ID '^[A-Za-z0-9/_+=.@:-]+$' 'a Secrets Manager secret name or ARN' 2048
      ;;
    sqlite)
      check_required BK_PATH '^/[^[:cntrl:]]*$' 'an absolute path'
      ;;
    files)
      if [[ -z ${BK_PATHS:-} ]]; then
        check_required BK_PATH '^/[^[:cntrl:]]*$' 'an absolute path'
      elif [[ -n ${BK_PATH:-} ]]; then
        input_error 'BK_PATH and BK_PATHS are both set: a files target names one directory (BK_PATH) or several paths (BK_PATHS)'
      else
        check_required BK_PATHS '^/[^:[:cntrl:]]*(:/[^:[:cntrl:]]*)*$' "absolute paths separated by ':'"
      fi
      ;;
  esac
  if [[ -n ${BK_PATHS:-} && ${BK_KIND:-} != files ]]; then
    input_error "BK_PATHS is set but BK_KIND is '${BK_KIND:-}': several paths apply to kind 'files' only"
  fi
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

main() {
  local started_ms
  started_ms=$(now_ms)
  validate_inputs
  ROW_COUNT_MAX_BYTES=$((${BK_ROW_COUNT_MAX_TABLE_MB:-$DEFAULT_ROW_COUNT_MAX_TABLE_MB} * 1024 * 1024))
  make_work_dir
  resolve_instance_and_region

  local epoch day stamp
  utc_format epoch %s -1
  utc_format STARTED_AT %Y-%m-%dT%H:%M:%SZ "$epoch"
  utc_format RETAIN_UNTIL %Y-%m-%dT%H:%M:%SZ $((epoch + BK_RETENTION_DAYS * 86400))
  utc_format day %Y/%m/%d "$epoch"
  utc_format stamp %Y%m%dT%H%M%SZ "$epoch"
  LOCK_MODE=${BK_OBJECT_LOCK_MODE:-GOVERNANCE}
  local extension
  case "$BK_KIND" in
    postgres) extension=pgdump.gz FORMAT=pg_custom ;;
    mysql) extension=sql.gz FORMAT=mysql_sql ;;
    sqlite) extension=sqlite.gz FORMAT=sqlite ;;
    files) extension=tar.gz FORMAT=tar ;;
  esac
  OBJECT_KEY="$BK_TIER/$BK_TARGET/$day/${BK_TARGET}_$stamp.$extension"
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

  json_quote_each "$BK_TARGET" "$BK_TIER" "$BK_KIND" "$BK_BUCKET" "$OBJECT_KEY" "$VERSION_ID" "$OBJECT_KEY.manifest.json" "$INSTANCE"
  printf 'BACKUP_RESULT {"target":%s,"tier":%s,"kind":%s,"bucket":%s,"key":%s,"versionId":%s,"manifestKey":%s,"instance":%s,"bytes":%s,"sha256":"%s","retainUntil":"%s","durationSeconds":%s}\n' \
    "${JSON_QUOTED[@]}" "$BYTES" "$SHA256" "$RETAIN_UNTIL" "$(seconds_since "$started_ms")"
}

main "$@"
