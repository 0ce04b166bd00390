# shellcheck shell=bash
# Shared functions of the instance-side backup scripts. Sourced, never run: it sets no shell
# options of its own beyond those the caller asked for, and defines no side effects at load
# except the exit-code constants.
#
# Secrets: a password fetched here lives only in a shell variable and in 0600 files inside the
# private work directory. It is never put in a command's argv (printf is a builtin), never
# exported, and never logged.

# Exit codes, one per stage, so that the result handler and an on-call engineer can tell at a
# glance where a run failed.
readonly EXIT_BAD_INPUT=2   # an environment variable is missing or malformed
readonly EXIT_CREDENTIALS=3 # the password could not be fetched or the database refused it
readonly EXIT_DUMP=4        # the source could not be read, dumped or compressed
readonly EXIT_UPLOAD=5      # S3 refused the upload, or its retention could not be set
readonly EXIT_MANIFEST=6    # the manifest could not be written

# Stage names, by exit code, for messages.
stage_name() {
  case "$1" in
    "$EXIT_BAD_INPUT") echo input ;;
    "$EXIT_CREDENTIALS") echo credentials ;;
    "$EXIT_DUMP") echo dump ;;
    "$EXIT_UPLOAD") echo upload ;;
    "$EXIT_MANIFEST") echo manifest ;;
    *) echo "exit $1" ;;
  esac
}

LOG_TAG=${LOG_TAG:-backup}

# utc_format <var> <strftime format> <epoch seconds, or -1 for now>: a time in UTC. Without a
# process where the shell can (printf's %()T, bash 4.2+, and only if it honours a TZ given to it
# alone); date(1) elsewhere.
if TZ=UTC0 printf -v LOG_TZ_OFFSET '%(%z)T' -1 2>/dev/null && [ "$LOG_TZ_OFFSET" = +0000 ]; then
  utc_format() { TZ=UTC0 printf -v "$1" "%($2)T" "$3"; }
else
  utc_format() {
    local formatted
    if [ "$3" = -1 ]; then formatted=$(date -u "+$2"); else formatted=$(date -u -d "@$3" "+$2"); fi || return 1
    printf -v "$1" '%s' "$formatted"
  }
fi
utc_now() { utc_format "$1" '%Y-%m-%dT%H:%M:%SZ' -1; } # utc_now <var>: the time as 2026-01-31T02:00:00Z

log() { # log <level> <message...>: one timestamped line on stderr
  local level=$1 now
  shift
  utc_now now
  printf '%s %s %s: %s\n' "$now" "$LOG_TAG" "$level" "$*" >&2
}
log_info() { log INFO "$@"; }
log_warn() { log WARN "$@"; }
log_error() { log ERROR "$@"; }

# Messages printed by `fail` after the failure line, for context that depends on how far the
# run got (e.g. "the data object was uploaded but has no manifest").
FAILURE_NOTES=()

fail() { # fail <exit code> <message...>: logs the stage and the reason, then exits
  local code=$1
  shift
  log_error "stage $(stage_name "$code") failed (exit $code): $*"
  local note
  for note in "${FAILURE_NOTES[@]+"${FAILURE_NOTES[@]}"}"; do
    log_error "$note"
  done
  exit "$code"
}

require_command() { # require_command <exit code> <command> <why>
  command -v "$2" >/dev/null 2>&1 || fail "$1" "'$2' is not installed ($3)"
}

# Backups are written once: every upload to the backup bucket carries If-None-Match, which the
# bucket policy requires. CLIs older than S3's conditional writes (20 August 2024) do not know the
# option and would fail only after the whole dump; their botocore has no IfNoneMatch in the
# CompleteMultipartUpload input, so ask it first. One CLI start, no request: --debug also logs the
# CLI's version (AWS_CLI_VERSION, as `aws --version` prints it), which the manifest records. A CLI
# that passed is remembered (its resolved path, size and modification time, in root's state
# directory), so later backups start one CLI fewer until it is replaced; a failure is never kept.
AWS_CLI_VERSION=
AWS_CLI_PROBE_FILE="${BACKUP_KIT_STATE_DIR:-/var/lib/backup-kit}/aws-cli-probe"
require_conditional_writes() { # require_conditional_writes <exit code>
  local binary identity='' cached_identity='' cached_version=''
  binary=$(command -v aws) && binary=$(readlink -f -- "$binary") && identity=$(stat -c '%n %s %Y' -- "$binary" 2>/dev/null) || identity=''
  if [[ -n $identity && -f $AWS_CLI_PROBE_FILE ]] && { IFS= read -r cached_identity && IFS= read -r cached_version; } <"$AWS_CLI_PROBE_FILE" &&
    [[ $cached_identity == "$identity" && $cached_version == aws-cli/* ]]; then
    AWS_CLI_VERSION=$cached_version
    return 0
  fi
  local skeleton debug_log="${WORK_DIR:-${TMPDIR:-/tmp}}/aws-cli-probe.log"
  skeleton=$(aws --debug s3api complete-multipart-upload --generate-cli-skeleton input 2>"$debug_log") || skeleton=''
  AWS_CLI_VERSION=$(sed -n 's/.* - DEBUG - CLI version: \(aws-cli\/.*\)$/\1/p' "$debug_log" | head -n 1)
  rm -f -- "$debug_log"
  [[ -n $AWS_CLI_VERSION ]] || AWS_CLI_VERSION=$(tool_version aws)
  if [[ $skeleton != *'"IfNoneMatch"'* ]]; then
    fail "$1" "this AWS CLI ($AWS_CLI_VERSION) cannot send If-None-Match, which every upload to the backup bucket needs (backups are written once): install an AWS CLI released on or after 2024-08-20 (v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html; v1: pip install --upgrade awscli)"
  fi
  # Best effort: a state directory that cannot be written only costs the next backup this probe.
  [[ -n $identity && $AWS_CLI_VERSION == aws-cli/* ]] || return 0
  local state_dir
  state_dir=$(dirname -- "$AWS_CLI_PROBE_FILE")
  if (umask 077 && mkdir -p -- "$state_dir" && printf '%s\n%s\n' "$identity" "$AWS_CLI_VERSION" >"$AWS_CLI_PROBE_FILE.$$" && mv -f -- "$AWS_CLI_PROBE_FILE.$$" "$AWS_CLI_PROBE_FILE") 2>/dev/null; then
    :
  else
    rm -f -- "$AWS_CLI_PROBE_FILE.$$" 2>/dev/null || true
  fi
}

# True when <value> matches <pattern> and has at most <max> characters. The length is checked
# apart: glibc compiles a bounded repeat such as {0,4095} into that many copies, which takes
# bash close to a second per match.
matches_within() { # matches_within <value> <pattern> <max characters>
  ((${#1} <= $3)) && [[ $1 =~ $2 ]]
}

# The last lines of a file, joined with " | ", for one-line error messages.
tail_of() { # tail_of <file> [lines]
  [[ -s $1 ]] || return 0
  tail -n "${2:-5}" "$1" | tr '\n' '|' | sed 's/|$//; s/|/ | /g'
}

# ---------------------------------------------------------------------------------------------
# Work directory and cleanup

WORK_DIR=
BACKGROUND_PIDS=()
# While an upload streams: the file holding the uploader's PID (and its part upload in flight),
# stopped first on a failed exit so that it never completes a partial object.
STOP_ON_FAILURE_PID_FILE=

cleanup() {
  local status=$?
  local pid
  if ((status != 0)) && [[ -n $STOP_ON_FAILURE_PID_FILE && -s $STOP_ON_FAILURE_PID_FILE ]]; then
    for pid in $(cat "$STOP_ON_FAILURE_PID_FILE" 2>/dev/null || true); do
      kill -TERM "$pid" 2>/dev/null || true
    done
  fi
  for pid in "${BACKGROUND_PIDS[@]+"${BACKGROUND_PIDS[@]}"}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  if [[ -n $WORK_DIR && -d $WORK_DIR ]]; then
    rm -rf -- "$WORK_DIR"
  fi
  return "$status"
}

on_signal() { # exit through the EXIT trap, so that cleanup runs
  log_error "interrupted by SIG$1"
  trap - "$1"
  case "$1" in
    INT) exit 130 ;;
    HUP) exit 129 ;;
    *) exit 143 ;;
  esac
}

# Creates the private work directory (mode 0700 under TMPDIR) and arranges its removal, and the
# end of every background process registered in BACKGROUND_PIDS, on every exit.
make_work_dir() {
  umask 077
  WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/backup-kit.XXXXXXXX") || fail "$EXIT_DUMP" "cannot create a temporary directory under ${TMPDIR:-/tmp}"
  trap cleanup EXIT
  trap 'on_signal INT' INT
  trap 'on_signal TERM' TERM
  trap 'on_signal HUP' HUP
}

# ---------------------------------------------------------------------------------------------
# JSON (built here rather than with jq, which many instance images lack)

json_str() { # json_str <string>: the string as a JSON string literal
  local quoted
  json_quote quoted "$1"
  printf '%s' "$quoted"
}

json_quote_each() { # json_quote_each <string>...: JSON_QUOTED=(each as a JSON string literal)
  local value quoted
  JSON_QUOTED=()
  for value in "$@"; do
    json_quote quoted "$value"
    JSON_QUOTED+=("$quoted")
  done
}

# json_quote <var> <string>: sets <var> to the string as a JSON string literal. Like the other
# builders here it runs in the shell itself: a $(...) is a fork, and a backup builds dozens.
json_quote() {
  local s=$2 i c out
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  if [[ $s == *[$'\x01'-$'\x1f']* ]]; then
    out=
    for ((i = 0; i < ${#s}; i++)); do
      c=${s:i:1}
      if [[ $c == [$'\x01'-$'\x1f'] ]]; then
        printf -v c '\\u%04x' "'$c"
      fi
      out+=$c
    done
    s=$out
  fi
  printf -v "$1" '"%s"' "$s"
}

hex_decode() { # hex_decode <hex>: the bytes it encodes
  local hex=$1 escaped='' i
  for ((i = 0; i < ${#hex}; i += 2)); do
    escaped+="\\x${hex:i:2}"
  done
  printf '%b' "$escaped"
}

# ---------------------------------------------------------------------------------------------
# AWS CLI (v1 and v2)

# Builds the argv of an AWS CLI call into AWS_ARGV: the service's endpoint override
# (AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL) and BK_REGION are passed as options, so
# that CLI versions that predate those environment variables honour them too.
aws_argv() { # aws_argv <service> <args...>
  local service=$1
  shift
  local service_env endpoint
  case "$service" in
    s3 | s3api) service_env=AWS_ENDPOINT_URL_S3 ;;
    ssm) service_env=AWS_ENDPOINT_URL_SSM ;;
    secretsmanager) service_env=AWS_ENDPOINT_URL_SECRETS_MANAGER ;;
    *) service_env= ;;
  esac
  endpoint=${service_env:+${!service_env:-}}
  endpoint=${endpoint:-${AWS_ENDPOINT_URL:-}}
  AWS_ARGV=(aws)
  [[ -n $endpoint ]] && AWS_ARGV+=(--endpoint-url "$endpoint")
  [[ -n ${BK_REGION:-} ]] && AWS_ARGV+=(--region "$BK_REGION")
  AWS_ARGV+=("$service" "$@")
}

aws_cli() { # aws_cli <service> <args...>
  aws_argv "$@"
  AWS_PAGER='' "${AWS_ARGV[@]}"
}

# ---------------------------------------------------------------------------------------------
# EC2 instance metadata (IMDSv2), honouring the SDKs' AWS_EC2_METADATA_DISABLED and
# AWS_EC2_METADATA_SERVICE_ENDPOINT. Short timeouts: off EC2 this gives up within ~2 s.

IMDS_TOKEN=

imds_endpoint() {
  local endpoint=${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}
  printf '%s' "${endpoint%/}"
}

imds_available() {
  [[ ${AWS_EC2_METADATA_DISABLED:-false} != true ]] && command -v curl >/dev/null 2>&1
}

# Fetches a session token once; sets IMDS_TOKEN. Returns non-zero off EC2.
imds_login() {
  imds_available || return 1
  [[ -n $IMDS_TOKEN ]] && return 0
  IMDS_TOKEN=$(curl -sf --connect-timeout 1 --max-time 2 -X PUT \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$(imds_endpoint)/latest/api/token" 2>/dev/null) || return 1
  [[ -n $IMDS_TOKEN ]]
}

imds_get() { # imds_get <meta-data path>: the value on stdout
  imds_login || return 1
  # The token goes in through curl's config on stdin, not argv.
  printf 'header = "X-aws-ec2-metadata-token: %s"\n' "$IMDS_TOKEN" |
    curl -sf --connect-timeout 1 --max-time 2 -K - "$(imds_endpoint)/latest/meta-data/$1" 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# Passwords

# Fetches the database password from an SSM SecureString parameter or a Secrets Manager secret
# (a plain string, or JSON with a "password" field) into the global DB_PASSWORD.
fetch_password() { # fetch_password <ssm parameter name or ''> <secret id or ''>
  local parameter=$1 secret=$2 value err="$WORK_DIR/password.err"
  DB_PASSWORD=
  if [[ -n $parameter ]]; then
    if ! value=$(aws_cli ssm get-parameter --name "$parameter" --with-decryption \
      --query 'Parameter.Value' --output text 2>"$err"); then
      fail "$EXIT_CREDENTIALS" "cannot read SSM parameter '$parameter' (BK_PASSWORD_SSM_PARAMETER): $(tail_of "$err" 3)"
    fi
    DB_PASSWORD=$value
  else
    # SecretString is null for a binary secret; ask for a flag beside it so that a null is not
    # taken for the password "None".
    if ! value=$(aws_cli secretsmanager get-secret-value --secret-id "$secret" \
      --query '[SecretString == null, SecretString]' --output text 2>"$err"); then
      fail "$EXIT_CREDENTIALS" "cannot read secret '$secret' (BK_PASSWORD_SECRET_ID): $(tail_of "$err" 3)"
    fi
    if [[ ${value%%$'\t'*} != False ]]; then
      fail "$EXIT_CREDENTIALS" "secret '$secret' (BK_PASSWORD_SECRET_ID) has no SecretString (binary secrets are not supported)"
    fi
    value=${value#*$'\t'}
    if [[ $value =~ ^[[:space:]]*\{ ]]; then
      pick_json_tool
      # Piped from printf (a builtin): no argv, and no here-string temp file.
      if printf '%s' "$value" | secret_is_json_object; then
        if ! value=$(printf '%s' "$value" | password_from_json); then
          fail "$EXIT_CREDENTIALS" "secret '$secret' (BK_PASSWORD_SECRET_ID) is JSON but has no string field \"password\""
        fi
      fi
    fi
    DB_PASSWORD=$value
  fi
  local origin="secret '$secret'"
  [[ -n $parameter ]] && origin="SSM parameter '$parameter'"
  if [[ -z $DB_PASSWORD ]]; then
    fail "$EXIT_CREDENTIALS" "the password from $origin is empty"
  fi
  if [[ $DB_PASSWORD == *$'\n'* ]]; then
    fail "$EXIT_CREDENTIALS" "the password from $origin contains a line break, which database clients cannot take"
  fi
}

# JSON secrets need a JSON parser: jq if present, else python3. Sets JSON_TOOL.
pick_json_tool() {
  if command -v jq >/dev/null 2>&1; then
    JSON_TOOL=jq
  elif command -v python3 >/dev/null 2>&1; then
    JSON_TOOL=python3
  else
    fail "$EXIT_CREDENTIALS" "the secret looks like JSON; reading it needs jq or python3, and neither is installed"
  fi
}

secret_is_json_object() { # stdin: the secret
  case "$JSON_TOOL" in
    jq) jq -e 'type == "object"' >/dev/null 2>&1 ;;
    python3) python3 -c 'import json,sys; sys.exit(0 if isinstance(json.load(sys.stdin), dict) else 1)' >/dev/null 2>&1 ;;
  esac
}

password_from_json() { # stdin: the secret; stdout: its "password" field
  case "$JSON_TOOL" in
    jq) jq -je 'if (.password | type) == "string" then .password else error("no password") end' 2>/dev/null ;;
    python3)
      python3 -c '
import json, sys
value = json.load(sys.stdin).get("password")
if not isinstance(value, str):
    sys.exit(1)
sys.stdout.write(value)' 2>/dev/null
      ;;
  esac
}

# A libpq password file (0600) holding DB_PASSWORD for any host, port, database and user.
write_pgpass_file() { # write_pgpass_file <path>
  local escaped=${DB_PASSWORD//\\/\\\\}
  escaped=${escaped//:/\\:}
  (umask 077 && printf '*:*:*:*:%s\n' "$escaped" >"$1")
}

# A MySQL/MariaDB option file (0600) for --defaults-extra-file, holding DB_PASSWORD.
write_mysql_defaults_file() { # write_mysql_defaults_file <path>
  local escaped=${DB_PASSWORD//\\/\\\\}
  escaped=${escaped//\"/\\\"}
  (umask 077 && printf '[client]\npassword="%s"\n' "$escaped" >"$1")
}

# ---------------------------------------------------------------------------------------------
# Small helpers

# First line of a tool's --version output (some print it on stderr).
tool_version() { # tool_version <command> [version flag]
  "$1" "${2:---version}" 2>&1 | head -n 1 || true
}

# SHA-256 (64 hex digits and a newline) of stdin. OpenSSL uses the CPU's SHA instructions: on
# current EC2 it hashes about five times as fast as coreutils' sha256sum, the fallback.
sha256_stdin() {
  local digest
  if command -v openssl >/dev/null 2>&1; then
    digest=$(openssl dgst -sha256 -r) || return 1
  else
    digest=$(sha256sum) || return 1
  fi
  printf '%s\n' "${digest%% *}"
}

# The per-file index of a files backup: one record "<sha256> <size> <path>\0" per regular file
# (a hard link counts under each of its names, with its file's content), the path relative to the
# backed-up directory, records sorted by path bytes; printed as "<count> <sha256 of the records>".
# Mode "tar" reads an uncompressed tar stream on stdin (the archive as tar wrote it, on its way to
# the compressor) and reads stdin to its end whatever happens, so the stream is never cut; mode
# "tree <dir>" walks a restored directory. The verifier computes the same (lambda/verify/formats/tar.ts).
# Python: the only tool on a stock instance that hashes many files in one process (a process per
# file made 3,000 small files take 28 s). The records are sorted in memory (about 150 bytes a
# file), so above MAX_FILES (BK_FILES_INDEX_MAX_FILES, default 500,000) it stops with an error and
# the backup goes on without an index.
# shellcheck disable=SC2034 # used by backup.sh and restore.sh
FILES_INDEX_PY='
import hashlib, os, stat, sys

MAX_FILES = int(os.environ.get("BK_FILES_INDEX_MAX_FILES") or 500000)

def add(records, path, value):
    records[path] = value
    if len(records) > MAX_FILES:
        raise ValueError("more than %d files: no per-file index" % MAX_FILES)

def relative(path):
    return path[2:] if path.startswith(b"./") else path

def digest_of(read, size):
    digest = hashlib.sha256()
    for piece in iter(lambda: read(1 << 20), b""):
        digest.update(piece)
    return digest.digest() + size.to_bytes(8, "big")

def from_tar(records):
    import tarfile
    source = sys.stdin.buffer
    try:
        with tarfile.open(fileobj=source, mode="r|") as archive:
            for member in archive:
                path = relative(os.fsencode(member.name))
                if member.isreg():
                    add(records, path, digest_of(archive.extractfile(member).read, member.size))
                elif member.islnk():
                    target = records.get(relative(os.fsencode(member.linkname)))
                    if target is None:
                        raise ValueError("hard link %r to a file not archived before it" % member.name)
                    add(records, path, target)
    finally:
        while source.read(1 << 20):
            pass

def from_tree(top, records):
    top = os.fsencode(top)
    for root, _, names in os.walk(top):
        for name in names:
            full = os.path.join(root, name)
            info = os.lstat(full)
            if stat.S_ISREG(info.st_mode):
                with open(full, "rb") as handle:
                    add(records, os.path.relpath(full, top), digest_of(handle.read, info.st_size))

records = {}
if sys.argv[1] == "tar":
    from_tar(records)
else:
    from_tree(sys.argv[2], records)
listing = hashlib.sha256()
for path in sorted(records):
    value = records[path]
    listing.update(b"%s %d %s\0" % (value[:32].hex().encode(), int.from_bytes(value[32:], "big"), path))
print(len(records), listing.hexdigest())
'

now_ms() { # milliseconds since the epoch: EPOCHREALTIME (bash 5+, no process), else date(1)
  local now=${EPOCHREALTIME:-}
  if [ -n "$now" ]; then
    now=${now//[!0-9]/}
    echo $((10#$now / 1000))
  else
    now=$(date +%s%N)
    echo $((now / 1000000))
  fi
}

seconds_since() { # seconds_since <start ms>: elapsed seconds with millisecond precision
  local elapsed=$(($(now_ms) - $1))
  printf '%d.%03d' $((elapsed / 1000)) $((elapsed % 1000))
}
